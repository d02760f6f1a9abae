"""A local sweep's first run against its later runs, which reuse the shared disk cache of frozen features.

    python benchmarks/sweep_cache.py [--preset S] [--size 224] [--points 3] [--per-class 3]

Runs `tipsomaly sweep run` on a grid of `--points` learning rates (one epoch each, fit then test) with a random
TIPS checkpoint of an official size, on a generated MVTec-layout source and target. Each point's fit + test is
timed; the first point fills the disk cache of the source images' frozen features, the later points read it.
Then one more point runs with a fresh, empty cache folder, in the same process, as the cold baseline.
The last line is `SUMMARY sweep key=value ...`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml
from harness import machine, write_random_checkpoint

from datamodules import make_synthetic_dataset
from tipsomaly import sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="S")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--points", type=int, default=3)
    parser.add_argument("--per-class", type=int, default=3)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        backbone = write_random_checkpoint(tmp / "tips", args.preset)
        make_synthetic_dataset(tmp / "source", n_normal=args.per_class, n_anomalous=args.per_class, image_size=args.size, seed=1)
        make_synthetic_dataset(tmp / "target", classes=("mesh_texture", "disc_object"), n_normal=args.per_class,
                               n_anomalous=args.per_class, image_size=args.size, seed=2)
        config = {
            "model": {"backbone": backbone},
            "data": {"train_sets": [{"name": "source", "format": "mvtec", "root": str(tmp / "source")}],
                     "test_sets": [{"name": "target", "format": "mvtec", "root": str(tmp / "target")}],
                     "image_size": args.size, "batch_size": 4, "num_workers": 0},
            "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "logger": False, "enable_checkpointing": False,
                        "enable_progress_bar": False, "enable_model_summary": False},
        }
        (tmp / "config.yaml").write_text(yaml.safe_dump(config))
        grid = {"method": "grid", "parameters": {"model.lr": {"values": [10.0 ** -(3 + i) for i in range(args.points)]}},
                "command": ["tipsomaly", "sweep", "point", "--config", str(tmp / "config.yaml"),
                            "--feature_cache_dir", str(tmp / "cache"), "${args}"]}
        (tmp / "grid.yaml").write_text(yaml.safe_dump(grid, sort_keys=False))

        seconds: list[float] = []

        def timed_runner(cli_args: list[str]) -> None:
            start = time.perf_counter()
            sweep.cli_runner(cli_args)
            if cli_args[0] == "fit":
                seconds.append(0.0)
            seconds[-1] += time.perf_counter() - start

        sweep.run_sweep(tmp / "grid.yaml", tmp / "out", runner=timed_runner)
        start = time.perf_counter()
        sweep.run_point(["--config", str(tmp / "config.yaml"), "--model.lr=0.001"], tmp / "cold", tmp / "cold_cache")
        cold = time.perf_counter() - start
    later = sum(seconds[1:]) / max(len(seconds) - 1, 1)
    print(f"\nsweep of {args.points} points, ViT-{args.preset} at {args.size} px, fit (1 epoch) + test per point:")
    for i, s in enumerate(seconds):
        print(f"  point {i}: {s:6.2f} s{'  (fills the feature cache)' if i == 0 else '  (reads it)'}")
    print(f"  cold point, empty cache folder: {cold:6.2f} s")
    print(f"  first / later = {seconds[0] / later:.2f}x, cold / later = {cold / later:.2f}x")
    print(f"SUMMARY sweep first_s={seconds[0]:.2f} later_s={later:.2f} cold_s={cold:.2f} ratio={cold / later:.2f}")


if __name__ == "__main__":
    main()
