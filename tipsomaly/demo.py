"""`tipsomaly demo` (`make demo`): the whole pipeline on generated data, through the same CLI and configs as a
real run, in about a minute on two CPU cores.

It generates a source and a target dataset in the MVTec AD layout (other classes on each side, so the target is
zero-shot), takes the tiny TIPS model in the official file format that the tests use (tests/data/tips: random
weights and a real SentencePiece tokenizer), and runs

    tipsomaly fit  --config configs/paper.yaml --config <demo>/demo.yaml                       (on the source)
    tipsomaly test ... --model.prompt_method none                                            (fixed prompts only)
    tipsomaly test ... --ckpt_path <demo>/fit/checkpoints/last.ckpt                          (prompts learned on the source)

then prints the target's pixel AUROC for both, the training loss per epoch, where every file went, and the commands
for real checkpoints and datasets.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from tipsomaly.package_data import configs_dir, demo_model_dir  # the checkout's folders, or the wheel's copies

TINY_TIPS = demo_model_dir()
MARKER = ".tipsomaly_demo"  # only a folder the demo made itself is ever cleared
SOURCE_CLASSES = ("grid_texture", "round_object")
TARGET_CLASSES = ("mesh_texture", "disc_object")


def _config(folder: Path, epochs: int, image_size: int) -> Path:
    """The demo's config: paper.yaml's settings, with the tiny model, the generated sets and a CPU trainer."""
    import yaml

    tiny = {
        "name": None, "checkpoint_dir": None,
        "vision_checkpoint": str(TINY_TIPS / "tips_tiny_mlp_vision.npz"),
        "text_checkpoint": str(TINY_TIPS / "tips_tiny_mlp_text.npz"),
        "tokenizer": str(TINY_TIPS / "tokenizer.model"),
        "vision_num_heads": 4, "text_num_heads": 4,  # the tiny towers fit no official preset
    }
    config = {
        "config": [str(configs_dir() / "paper.yaml"), str(configs_dir() / "trainer" / "cpu.yaml")],
        "model": {"backbone": tiny, "lr": 0.01},
        "data": {
            "train_sets": [{"name": "source", "format": "mvtec", "root": str(folder / "source")}],
            "test_sets": [{"name": "target", "format": "mvtec", "root": str(folder / "target")}],
            "image_size": image_size, "batch_size": 8, "num_workers": 0,
        },
        "trainer": {
            "max_epochs": epochs, "log_every_n_steps": 1, "enable_model_summary": False,
            "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger",
                       "init_args": {"save_dir": str(folder), "name": "logs"}},  # fit: logs/version_0
        },
    }
    path = folder / "demo.yaml"
    path.write_text("# Written by `tipsomaly demo`: configs/paper.yaml with the tiny random model and generated data.\n"
                    + yaml.safe_dump(config, sort_keys=False))
    return path


def _prepare(folder: Path) -> None:
    if folder.exists() and any(folder.iterdir()):
        if not (folder / MARKER).exists():
            raise SystemExit(f"tipsomaly demo: error: '{folder}' is not empty and was not made by the demo; "
                             "pass --out with a new or empty folder.")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("made by `tipsomaly demo`; it clears this folder when run again\n")


def _run(args: list[str]) -> None:
    from tipsomaly.cli import main

    print(f"\n$ tipsomaly {' '.join(args)}", flush=True)
    if main(args) != 0:
        raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tipsomaly demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="tipsomaly_demo", help="folder for everything the demo writes")
    parser.add_argument("--epochs", type=int, default=8, help="prompt training epochs on the source")
    parser.add_argument("--image_size", type=int, default=112, help="model input size (a multiple of 14)")
    args = parser.parse_args(argv)
    folder = Path(args.out).resolve()
    _prepare(folder)

    from datamodules import make_synthetic_dataset

    make_synthetic_dataset(folder / "source", classes=SOURCE_CLASSES, n_normal=6, n_anomalous=12, seed=1)
    make_synthetic_dataset(folder / "target", classes=TARGET_CLASSES, n_normal=6, n_anomalous=9, seed=2)
    config = str(_config(folder, args.epochs, args.image_size))
    print(" ".join(__doc__.split("\n\n")[1].split()).removesuffix(", and runs") + "; it runs fit on the source, then test "
          "on the target with the fixed prompts only, with the prompts learned on the source, and few-shot with 4 normal "
          "images per target class (combined with the fixed prompts, and the few-shot map alone).")
    print("\nThe TIPS weights are RANDOM (a tiny model in the official format): the numbers below show that the "
          "pipeline runs end to end, not how well TIPS detects anomalies.")

    _run(["fit", "--config", config, "--results_dir", str(folder / "fit")])
    _run(["test", "--config", config, "--model.prompt_method", "none", "--results_dir", str(folder / "test_fixed")])
    _run(["test", "--config", config, "--ckpt_path", str(folder / "fit" / "checkpoints" / "last.ckpt"),
          "--results_dir", str(folder / "test_learned")])
    few_shot = ["--model.prompt_method", "none", "--data.few_shot.k", "4", "--data.few_shot.seed", "0"]  # 4 train/good images per class
    _run(["test", "--config", config, *few_shot, "--results_dir", str(folder / "test_few_shot")])
    _run(["test", "--config", config, *few_shot, "--model.few_shot_only", "true", "--results_dir", str(folder / "test_few_shot_only")])
    _report(folder)
    return 0


def _report(folder: Path) -> None:
    import pandas as pd

    fixed = pd.read_csv(folder / "test_fixed" / "test_results.csv")
    learned = pd.read_csv(folder / "test_learned" / "test_results.csv")
    target = fixed["dataset"] == "target"  # its classes and its mean row
    side = pd.DataFrame({
        "class": fixed["class"][target],
        "fixed prompts only": fixed["pixel_auroc"][target].round(1),
        "prompts learned on the source": learned["pixel_auroc"][target].round(1),
        "fixed + few-shot (k=4)": pd.read_csv(folder / "test_few_shot" / "test_results.csv")["pixel_auroc"][target].round(1),
        "few-shot map alone": pd.read_csv(folder / "test_few_shot_only" / "test_results.csv")["pixel_auroc"][target].round(1),
    })
    print("\nTarget pixel AUROC (%): zero-shot on classes the prompts never saw, and few-shot with 4 normal images per class:")
    print(side.to_string(index=False))
    gain = float(learned["pixel_auroc"].iloc[-1] - fixed["pixel_auroc"].iloc[-1])
    if gain > 0:
        print(f"The prompts learned on the source raise the target's mean pixel AUROC by {gain:.1f} points.")
    else:
        print(f"No gain on the target ({gain:+.1f} points): with random weights the features carry no meaning "
              "to transfer. The prompts did learn on the source, as their loss shows.")
    print("Training loss on the source, per epoch:")
    metrics = folder / "logs" / "version_0" / "metrics.csv"  # the fit ran first
    losses = pd.read_csv(metrics).dropna(subset=["train/loss_epoch"])
    print("  " + "  ".join(f"epoch {int(e) + 1}: {v:.4f}" for e, v in zip(losses["epoch"], losses["train/loss_epoch"])))

    print(f"\nEverything is under {folder}:")
    for name, what in (
        ("source, target", "the generated datasets (MVTec AD layout)"),
        ("demo.yaml", "the config: configs/paper.yaml + configs/trainer/cpu.yaml + the tiny model and the sets"),
        ("fit/", "config_fit.yaml, prompts/learnable_prompts_epochN.pt, checkpoints/last.ckpt"),
        ("logs/version_0/", "the fit's logged losses (metrics.csv); version_1 to _4: the four tests"),
        ("test_fixed/, test_learned/", "config_test.yaml, test_results.csv/.md, test_predictions.csv"),
        ("test_few_shot/, _only/", "the same, plus few_shot_references.json (the 4 reference images per class)"),
    ):
        print(f"  {name:<28} {what}")
    print(
        "\nWith the real TIPS checkpoints and datasets (README: TIPS checkpoints, Datasets):\n"
        "  export TIPSOMALY_DATA=/path/to/datasets TIPSOMALY_CHECKPOINTS=/path/to/tips_checkpoints\n"
        "  tipsomaly fit  --config configs/mvtec_to_all.yaml --config configs/trainer/gpu.yaml --results_dir runs/mvtec\n"
        "  tipsomaly test --config configs/mvtec_to_all.yaml --config configs/trainer/gpu.yaml \\\n"
        "                 --ckpt_path runs/mvtec/checkpoints/last.ckpt --results_dir runs/mvtec_to_all"
    )


if __name__ == "__main__":
    sys.exit(main())
