"""The command's side of the run folder: one `RunFolder` per run (lightning_modules/callbacks/run_folder.py holds
the layout), checked, cleared on --overwrite, claimed with `run.lock`, then handed to every writer.

Rules, each once:
- a folder that holds results of the same stage is refused unless --overwrite true; a `test` into the folder of its
  `fit` is fine (different stages, different files, one config per stage);
- --overwrite true removes the previous run's files of that stage before this run writes (no stale maps,
  overlays, `last-v1.ckpt`);
- `fit --ckpt_path <folder>/checkpoints/<file>.ckpt` into that same folder resumes: no --overwrite needed, nothing
  removed, the prompts and checkpoint carry on from the checkpoint's epoch;
- two runs never write into one folder at once (`run.lock`, created exclusively).
"""

from __future__ import annotations

from pathlib import Path

from lightning_modules.callbacks.run_folder import (
    RUNS_FOLDER, STAGE_FILES, RunFolder, RunFolderError, default_run_folder, path_part,
)

ResultsFolderError = RunFolderError  # the name the command's error handling has always used


def check_results_dir(path: str | Path, subcommand: str, *, overwrite: bool) -> Path:
    """`path` (absolute) after `RunFolder.check`: a one-line error when it is a file or already holds results of
    `subcommand` and overwrite is off."""
    folder = RunFolder(path)
    folder.check(subcommand, overwrite)
    return folder.root


def resumes_in(folder: RunFolder, subcommand: str, ckpt_path: str | None) -> bool:
    """Whether this is `fit --ckpt_path` from a checkpoint of `folder` itself: resuming, not overwriting."""
    if subcommand != "fit" or not ckpt_path:
        return False
    checkpoint = Path(ckpt_path).expanduser().absolute()
    return checkpoint.is_file() and checkpoint.parent == folder.checkpoints


def prepare(folder: RunFolder, subcommand: str, *, overwrite: bool, resume: bool, claim: bool = True) -> list[Path]:
    """Check, claim and (with overwrite) clear `folder` for a run of `subcommand`; returns what was removed.

    Claimed before clearing, so a run in progress in that folder is never cleared under it."""
    if not resume:
        folder.check(subcommand, overwrite)
    if claim:
        folder.claim(subcommand)
    removed = folder.clear(subcommand) if (overwrite and not resume) else []
    folder.prepared_for = subcommand
    return removed


__all__ = [
    "RUNS_FOLDER", "STAGE_FILES", "ResultsFolderError", "RunFolder", "RunFolderError", "check_results_dir",
    "default_run_folder", "path_part", "prepare", "resumes_in",
]
