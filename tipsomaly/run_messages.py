"""What the command prints when a run ends: where its files are, how to use them, and how to resume a stopped fit."""

from __future__ import annotations

import shlex

from lightning_modules.callbacks.run_folder import RunFolder
from lightning_modules.callbacks.wandb_results import latest_prompt_file


def fit_finished(folder: RunFolder) -> str:
    lines = [f"\nfit finished; files are in {folder.root}", f"  learned prompts: {folder.prompts}"]
    if folder.last_checkpoint.is_file():
        lines.append(f"  test them: tipsomaly test --config <your config> --ckpt_path {folder.last_checkpoint}")
    return "\n".join(lines)


def evaluation_finished(folder: RunFolder, stage: str) -> str:
    """The results table and every file of this stage in the folder (an earlier run's were removed or refused)."""
    lines = []
    if stage == "test":
        table = folder.results_stem("test").with_suffix(".md")
        tables = [table] if table.is_file() else []
    else:
        tables = sorted(folder.root.glob("val_results_epoch*.md"), key=lambda p: int(p.stem.rsplit("epoch", 1)[1] or 0))
    if tables:
        lines.append("\n" + tables[-1].read_text())
    lines.append(f"{'test' if stage == 'test' else 'val'} results are in {folder.root}")
    written = [*(p.with_suffix(".csv") for p in tables[-1:])]
    if stage == "test":
        written += [folder.predictions("test"), folder.provenance("test"), folder.maps, folder.overlays]
    lines += [f"  {path}" for path in written if path.exists()]
    return "\n".join(lines)


def predict_finished(folder: RunFolder) -> str:
    lines = [f"\npredictions written to {folder.predictions('predict')}"]
    if folder.overlays.is_dir():
        lines.append(f"  overlays: {folder.overlays}")
    return "\n".join(lines)


def resume_command(args: list[str], folder: RunFolder) -> str:
    """`args` (a `fit` command line) with --ckpt_path set to the folder's last.ckpt and --results_dir to the folder,
    --overwrite dropped: resuming is not overwriting."""
    kept, skip = [], False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in ("--ckpt_path", "--results_dir", "--overwrite"):
            skip = "=" not in arg
            continue
        kept.append(arg)
    return shlex.join(["tipsomaly", *kept, "--results_dir", str(folder.root), "--ckpt_path", str(folder.last_checkpoint)])


def fit_interrupted(args: list[str], folder: RunFolder, why: str) -> str:
    """What was kept of a stopped fit and the exact command that continues it."""
    prompts = latest_prompt_file(folder.prompts)
    lines = [f"tipsomaly fit: stopped by {why} before the last epoch finished; nothing after the last completed epoch was kept."]
    if prompts is not None:
        lines.append(f"  kept: {prompts} (the latest learned prompts)")
    if folder.last_checkpoint.is_file():
        lines.append(f"  kept: {folder.last_checkpoint} (model, optimizer and epoch count)")
        lines.append(f"  resume with: {resume_command(args, folder)}")
    else:
        lines.append("  no checkpoint was written yet (the first epoch did not finish); start again with --overwrite true")
    return "\n".join(lines)


def evaluation_interrupted(stage: str, folder: RunFolder, why: str) -> str:
    """A validate / test / predict stopped before its files were written: say so, and how to run it again."""
    return (f"tipsomaly {stage}: stopped by {why} before it finished; its results were not written to {folder.root}. "
            f"Run the same command again (add --overwrite true if the folder already holds {stage} results).")


__all__ = [
    "evaluation_finished", "evaluation_interrupted", "fit_finished", "fit_interrupted", "predict_finished", "resume_command",
]
