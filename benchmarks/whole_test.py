"""The whole `tipsomaly test` command against the reference repository's own `test.py`, same files, one run each.

    python benchmarks/whole_test.py --reference CHECKOUT --reference-python PYTHON [--images 21] [--size 518] [--rounds 2]

Both commands are run as a user runs them, each in a fresh process timed from start to exit, on the same
generated MVTec-layout set (one class, `--images` test images of 900 px, the reference reading its `meta.json`),
the same random TIPS checkpoint of the official S/14 size in the official `.npz` layout and file names, and the
same learned prompts (the reference's `learnable_params_1.pth`, which `--model.prompt_checkpoint` reads): the
paper's decoupled method with local-to-global, at `--size` px, batch 8, on the CPU.

- The reference: AlirezaSalehy/Tipsomaly's `test.py` (a checkout: `--reference`), run by `--reference-python`, an
  interpreter that has its TIPS test path's packages (torch, torchvision, torchmetrics, transformers, jax,
  scikit-image, scikit-learn, scipy, sentencepiece, pandas, tabulate, humanhash3, opencv, matplotlib, tqdm;
  `bash benchmarks/reference_env.sh DIR` makes one).
  Its `model.big_vision.load_siglip` (SigLIP only; it imports TensorFlow and Flax) is replaced by an empty
  module, and CUDA_VISIBLE_DEVICES is set so that `test.py` does not start itself a second time: both make the
  reference faster than as published, so the ratios below are lower bounds.
- Ours: `tipsomaly test` (`python -m tipsomaly.cli`, as the console script) in float32 and bf16-mixed, each with
  an empty text-feature cache (the first run ever), again with the cache that run filled, both with the default
  W&B logger (offline) as a user gets it, and once more with `--trainer.logger false`.
- Every command runs once per round, in turn, so that a change of load reaches all of them; the best is kept.
- The image tower alone (our TIPS vision tower on the same number of images, batch 8, in this process) gives
  the share of the whole command that is not the image tower.
- Both tables are compared: the metrics that both define alike must agree within one unit of the reference's second decimal
  (`metrics_agree=1`); AUPRO is printed beside it (the reference's 200-threshold loop against our exact one).
The last line is `SUMMARY whole_test key=value ...`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

from harness import ROOT, machine, timed

from datamodules import make_synthetic_dataset
from lightning_modules.tips import load_tips
from tests.official_format import TOKENIZER, write_random_checkpoint

OFFICIAL_BASE = "tips_oss_s14_highres_distilled"  # the reference's file names for model_version s14h
REFERENCE_VOCAB = 32000  # the reference builds its text tower with the official vocabulary and loads strictly
CLASS = "round_object"
# The reference's SigLIP loader imports TensorFlow and Flax at the top of test.py; the TIPS path never calls it.
REFERENCE_DRIVER = """
import runpy, sys, types
sys.path.insert(0, sys.argv[1])
stub = types.ModuleType("model.big_vision.load_siglip")
package = types.ModuleType("model.big_vision")
package.load_siglip = stub
sys.modules.update({"model.big_vision": package, "model.big_vision.load_siglip": stub})
sys.argv = [sys.argv[1] + "/test.py", *sys.argv[2:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def write_models(folder: Path) -> dict[str, str]:
    """The random S/14 checkpoint under the official names, with the official 32000-row token table, and the
    tokenizer beside it, where the reference looks for it."""
    files = write_random_checkpoint(folder, "S", basename=OFFICIAL_BASE, text_vocab=REFERENCE_VOCAB)
    (folder / "tokenizer.model").write_bytes(TOKENIZER.read_bytes())
    return files | {"tokenizer": str(folder / "tokenizer.model")}


def write_meta_json(root: Path) -> None:
    """The reference's index of an MVTec-layout folder: {"test": {class: [item, ...]}, "train": {}}."""
    items = []
    for image in sorted((root / CLASS / "test").glob("*/*.png")):
        defect = image.parent.name
        mask = Path(CLASS) / "ground_truth" / defect / f"{image.stem}_mask.png"
        items.append({"img_path": str(image.relative_to(root)), "mask_path": "" if defect == "good" else str(mask),
                      "cls_name": CLASS, "specie_name": defect, "anomaly": int(defect != "good")})
    (root / "meta.json").write_text(json.dumps({"train": {}, "test": {CLASS: items}}))


def write_prompts(folder: Path, width: int, n_prompt: int = 8) -> Path:
    """Random learned prompts as the reference's training saves them, with its args.txt beside them."""
    folder.mkdir(parents=True)
    generator = torch.Generator().manual_seed(0)
    prompts = [torch.nn.Parameter(torch.randn(n_prompt, width, generator=generator) * 0.02) for _ in range(2)]
    torch.save(torch.nn.ParameterList(prompts), folder / "learnable_params_1.pth")
    (folder / "args.txt").write_text("Timestamp: 2026-01-01 00:00:00\nprompt_learn_method: concat\n")
    return folder / "learnable_params_1.pth"


def run_timed(command: list[str], cwd: Path, env: dict, log: Path) -> float:
    start = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"whole_test.py: {command[0]} ... exited {done.returncode}; its output: {log}\n{log.read_text()[-3000:]}")
    return seconds


def tower_seconds(backbone: dict[str, str], images: int, size: int, bf16: bool) -> float:
    """Our image tower alone on `images` images in batches of 8 (one warm-up batch first)."""
    model = load_tips(**backbone).eval()
    batches = [torch.rand(min(8, images - start), 3, size, size) for start in range(0, images, 8)]
    context = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else torch.autocast("cpu", enabled=False)

    def run() -> None:
        with torch.inference_mode(), context:
            for batch in batches:
                model.encode_image(batch)

    with torch.inference_mode(), context:
        model.encode_image(batches[0][:1])
    return timed(run)


def reference_table(log: Path) -> dict[str, float]:
    """The class row of the table the reference logs: pixel AUROC, AUPRO, F1-max, then image AUROC, AP, F1-max
    (each twice, one per global token; the first is the one both score with)."""
    rows = [line for line in log.read_text().splitlines() if f"| {CLASS} " in line]
    if not rows:
        sys.exit(f"whole_test.py: no results row for {CLASS} in {log}")
    cells = [float(cell) for cell in rows[-1].strip("| ").split("|")[2:]]
    return dict(zip(("pixel_auroc", "pixel_aupro", "pixel_f1_max", "image_auroc", "_", "image_ap", "_", "image_f1_max"), cells))


def our_table(folder: Path) -> dict[str, float]:
    import pandas as pd

    row = pd.read_csv(folder / "test_results.csv").query("`class` == @CLASS").iloc[0]
    return {key: float(row[key]) for key in ("pixel_auroc", "pixel_aupro", "pixel_f1_max", "image_auroc", "image_ap", "image_f1_max")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=Path, help="a checkout of AlirezaSalehy/Tipsomaly (its test.py)")
    parser.add_argument("--reference-python", default=sys.executable, help="an interpreter with the reference's packages")
    parser.add_argument("--images", type=int, default=21)
    parser.add_argument("--size", type=int, default=518)
    parser.add_argument("--rounds", type=int, default=2, help="every command once per round, in turn; the best is kept")
    parser.add_argument("--keep", type=Path, help="write everything here instead of a temporary folder")
    args = parser.parse_args()
    if args.reference is not None and not (args.reference / "test.py").is_file():
        sys.exit(f"whole_test.py: no test.py in --reference {args.reference}; expected a checkout of AlirezaSalehy/Tipsomaly")
    print(machine())
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or Path(scratch)
        backbone = write_models(tmp / "tips")
        normal = args.images // 2
        make_synthetic_dataset(tmp / "data" / "bench", classes=(CLASS,), n_normal=normal, n_anomalous=args.images - normal,
                               image_size=900, seed=0)
        write_meta_json(tmp / "data" / "bench")
        prompts = write_prompts(tmp / "workspaces" / "bench" / "run" / "checkpoints", width=384)
        env = dict(os.environ, PYTHONPATH=str(ROOT), WANDB_MODE="offline", CUDA_VISIBLE_DEVICES="")
        commands: dict[str, tuple[list[str], dict, Path | None]] = {}  # name -> (command, env, cache to empty first)
        if args.reference is not None:
            reference_env = {key: value for key, value in env.items() if key != "PYTHONPATH"}
            commands["reference"] = ([
                args.reference_python, "-c", REFERENCE_DRIVER, str(args.reference.resolve()), "--device", "cpu",
                "--models_dir", str(tmp / "tips"), "--model_version", "s14h", "--data_root_dir", str(tmp / "data"),
                "--dataset", "bench", "--checkpoint_path", str(prompts.parent), "--epoch", "1",
                "--image_size", str(args.size), "--batch_size", "8"], reference_env, None)
        for precision in ("32", "bf16-mixed"):
            config = {
                "model": {"backbone": backbone, "prompt_checkpoint": str(prompts)},
                "data": {"test_sets": [{"name": "bench", "format": "mvtec", "root": str(tmp / "data" / "bench")}],
                         "image_size": args.size, "batch_size": 8},
                "trainer": {"accelerator": "cpu", "devices": 1, "precision": precision},
            }
            path = tmp / f"ours_{precision}.yaml"
            path.write_text(yaml.safe_dump(config))
            cache = tmp / f"cache_{precision}"
            for run in ("cold", "warm", "no_logger"):
                name = f"ours_{precision.split('-')[0]}_{run}"
                extra = ["--trainer.logger", "false"] if run == "no_logger" else []
                commands[name] = ([sys.executable, "-m", "tipsomaly.cli", "test", "--config", str(path), *extra,
                                   "--results_dir", str(tmp / name), "--overwrite", "true"],
                                  dict(env, TIPSOMALY_CACHE_DIR=str(cache)), cache if run == "cold" else None)
        figures: dict[str, float] = {}
        for round_ in range(args.rounds):
            for name, (command, run_env, empty_first) in commands.items():
                if empty_first is not None:
                    shutil.rmtree(empty_first, ignore_errors=True)
                seconds = run_timed(command, tmp, run_env, tmp / f"{name}.log")
                figures[name] = min(figures.get(name, float("inf")), seconds)
                print(f"round {round_ + 1}: {name:<22} {seconds:6.1f} s")
        for name, bf16 in (("32", False), ("bf16", True)):
            figures[f"tower_{name}"] = tower_seconds(backbone, args.images, args.size, bf16)
        if "reference" in commands:
            theirs, ours = reference_table(tmp / "reference.log"), our_table(tmp / "ours_32_cold")
            print("\nthe same numbers (reference's table, 2 decimals; AUPRO: its 200-threshold loop vs our exact"
                  " definition):\n  " + ", ".join(f"{key} {theirs[key]:.2f} / {ours[key]:.2f}" for key in ours))
            agree = all(abs(theirs[key] - ours[key]) <= 0.01 for key in ours if key != "pixel_aupro")
            figures["metrics_agree"] = float(agree)
    print(f"\nS/14 at {args.size} px, {args.images} images, whole command, start to exit (best of {args.rounds}):")
    if "reference" in figures:
        print(f"  reference test.py: {figures['reference']:5.1f} s")
    for name in ("32", "bf16"):
        tower = figures[f"tower_{name}"]
        for run, text in (("cold", "empty text cache"), ("warm", "text cache filled"), ("no_logger", "no logger")):
            ours = figures[f"ours_{name}_{run}"]
            ratio = f", x{figures['reference'] / ours:.2f} the reference" if "reference" in figures else ""
            figures[f"not_tower_{name}_{run}"] = 1 - tower / ours
            print(f"  ours {name:>4}, {text:<17}: {ours:5.1f} s{ratio}; not the image tower ({tower:.1f} s): "
                  f"{100 * (1 - tower / ours):.0f}%")
        if "reference" in figures:
            figures[f"ratio_{name}"] = figures["reference"] / figures[f"ours_{name}_cold"]
    print("SUMMARY whole_test " + " ".join(f"{key}={value:.3g}" for key, value in figures.items()))


if __name__ == "__main__":
    main()
