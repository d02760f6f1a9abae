"""Prompt-training epochs with the frozen-feature cache off, in memory and on disk, in one run.

    python benchmarks/fit.py [--preset S] [--size 518] [--epochs 3] [--per-class 3]

Trainer.fit on a generated MVTec-layout set (train = its test split, as zero-shot training on an
auxiliary set does) with a random TIPS checkpoint of an official size in the official format.
Each epoch is timed by a callback; "later / first" says how much cheaper an epoch gets once the
image tower's features are cached (target: epochs after the first >= 10x faster). The time in
the image tower and in the text tower (learned prompts go through it, forward and backward, at
every step) is shown per run. The last line is `SUMMARY fit key=value ...`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

from harness import Stopwatch, machine, write_random_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="S")
    parser.add_argument("--size", type=int, default=518)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--per-class", type=int, default=3, help="normal and anomalous images per class, each")
    parser.add_argument("--source-size", type=int, default=256)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print(machine())

    import lightning as L

    from datamodules import AnomalyDataModule, make_synthetic_dataset
    from lightning_modules import Tipsomaly

    class EpochTimer(L.Callback):
        def __init__(self) -> None:
            self.seconds: list[float] = []

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self._start = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            self.seconds.append(time.perf_counter() - self._start)

    summary = {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        files = write_random_checkpoint(folder / "tips", args.preset)
        root = make_synthetic_dataset(folder / "data", n_normal=args.per_class, n_anomalous=args.per_class,
                                      image_size=args.source_size)
        n_images = len(list(root.glob("*/test/*/*.png")))
        print(f"\n{n_images} training images, {args.preset}/14 at {args.size} px, batch {args.batch}, {args.epochs} epochs")
        for cache in ("off", "memory", "disk"):
            data = AnomalyDataModule(train_sets=[{"name": "synthetic", "format": "mvtec", "root": str(root)}],
                                     image_size=args.size, batch_size=args.batch, num_workers=0)
            model = Tipsomaly(backbone=files, image_size=args.size, feature_cache=cache,
                              feature_cache_dir=str(folder / "cache") if cache == "disk" else None)
            timer = EpochTimer()
            trainer = L.Trainer(accelerator="auto", devices=1, max_epochs=args.epochs, logger=False,
                                enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                                callbacks=[timer])
            stopwatch = Stopwatch()
            with stopwatch.watching():
                stopwatch.wrap(model.model.tips.vision, "forward", "image tower")
                stopwatch.wrap(model.model.tips.text, "forward", "text tower (forward)")
                trainer.fit(model, datamodule=data)
            first, later = timer.seconds[0], sum(timer.seconds[1:]) / max(len(timer.seconds) - 1, 1)
            epochs = ", ".join(f"{s:.2f}" for s in timer.seconds)
            stages = ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in stopwatch.seconds.items())
            print(f"feature_cache={cache:<6}: epochs {epochs} s; later / first x{first / later:.1f}; in all: {stages}")
            summary[f"{cache}_first_s"], summary[f"{cache}_later_s"] = first, later
    fields = " ".join(f"{key}={value:.4g}" for key, value in summary.items())
    speedup = " ".join(f"{c}_speedup={summary[f'{c}_first_s'] / summary[f'{c}_later_s']:.3g}" for c in ("off", "memory", "disk"))
    print(f"SUMMARY fit preset={args.preset} size={args.size} images={n_images} {fields} {speedup}")


if __name__ == "__main__":
    main()
