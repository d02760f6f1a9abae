"""The whole test path (`Trainer.test` over `AnomalyDataModule`) against the backbone alone, in one run.

    python benchmarks/pipeline.py [--preset S] [--size 518] [--batch 8] [--per-class 5] [--workers 0,1]

A generated MVTec-layout dataset (two classes, normal and anomalous images with masks) is tested
with a random TIPS checkpoint of an official size in the official format, under float32 and
bf16-mixed, with the ResultsWriter callback writing the tables. The baseline is the image tower
alone on the same number of images at the same batch size (float32, and bf16 autocast as
bf16-mixed runs it), measured in the same run: the ratio says how much of the test path's time
goes to the backbone. With 0 workers everything runs in this process, so each stage is timed:

    decode+resize (AnomalyDataset.__getitem__, incl. masks and region weights), backbone (image
    tower), text (TextFeatureBank), scoring+smoothing (AnomalyScorer), metric update, metric
    compute (ClassMetrics), writing (ResultsWriter), and the rest (Lightning, collate, copies).

With workers, decoding runs in other processes, which on a small CPU compete with the backbone
for the same cores. The last line is `SUMMARY pipeline key=value ...`.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
import warnings
from pathlib import Path

import torch

from harness import Stopwatch, machine, timed, write_random_checkpoint


def test_once(files: dict, root: Path, out: Path, args, precision: str, workers: int) -> tuple[float, dict[str, float]]:
    """(seconds of trainer.test, seconds per stage) for one configuration."""
    import lightning as L

    from datamodules import AnomalyDataModule
    from datamodules.dataset import AnomalyDataset
    from lightning_modules import Tipsomaly
    from lightning_modules.callbacks.results_writer import ResultsWriter
    from lightning_modules.tipsomaly.evaluation import ClassMetrics

    data = AnomalyDataModule(test_sets=[{"name": "synthetic", "format": "mvtec", "root": str(root)}],
                             image_size=args.size, batch_size=args.batch, num_workers=workers)
    model = Tipsomaly(backbone=files, image_size=args.size, feature_cache="off")
    trainer = L.Trainer(accelerator="auto", devices=1, precision=precision, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False,
                        callbacks=[ResultsWriter(results_dir=str(out / f"{precision}_{workers}"))])
    stopwatch = Stopwatch()
    with stopwatch.watching():
        stopwatch.wrap(AnomalyDataset, "__getitem__", "decode+resize")
        stopwatch.wrap(model.model.tips.vision, "forward", "backbone")
        stopwatch.wrap(model.model.text_bank, "fixed", "text")
        stopwatch.wrap(model.model.text_bank, "learned", "text")
        stopwatch.wrap(model.model.scorer, "forward", "scoring+smoothing")
        stopwatch.wrap(ClassMetrics, "update", "metric update")
        stopwatch.wrap(ClassMetrics, "results", "metric compute")
        stopwatch.wrap(ResultsWriter, "on_test_epoch_end", "writing")
        start = time.perf_counter()
        trainer.test(model, datamodule=data, verbose=False)
        seconds = time.perf_counter() - start
    return seconds, dict(stopwatch.seconds)


def backbone_only(files: dict, n_images: int, args, mode: str) -> float:
    """Seconds of the image tower alone over n_images random images at the test batch size."""
    from lightning_modules.tips import load_tips

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tower = load_tips(**files, device=device).vision.eval()
    batches = [torch.rand(min(args.batch, n_images - start), 3, args.size, args.size, device=device)
               for start in range(0, n_images, args.batch)]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if mode == "bf16" else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        tower(batches[0][:1])  # warm-up
        return timed(lambda: [tower(b) for b in batches], 1, sync)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="S")
    parser.add_argument("--size", type=int, default=518)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--per-class", type=int, default=5, help="normal and anomalous test images per class, each")
    parser.add_argument("--source-size", type=int, default=1024, help="side of the generated images (MVTec: 1024)")
    parser.add_argument("--workers", type=lambda s: [int(w) for w in s.split(",")], default=[0, 1])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print(machine())
    from datamodules import make_synthetic_dataset

    summary = {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        files = write_random_checkpoint(folder / "tips", args.preset)
        root = make_synthetic_dataset(folder / "data", n_normal=args.per_class, n_anomalous=args.per_class,
                                      image_size=args.source_size)
        n_images = len(list(root.glob("*/test/*/*.png")))
        print(f"\n{n_images} test images of {args.source_size} px (PNG, two classes), {args.preset}/14 at {args.size} px, "
              f"batch {args.batch}")
        for precision, mode in (("32-true", "float32"), ("bf16-mixed", "bf16")):
            alone = backbone_only(files, n_images, args, mode)
            print(f"\n{precision}: backbone alone {alone:.2f} s ({n_images / alone:.2f} img/s)")
            for workers in args.workers:
                seconds, stages = test_once(files, root, folder / "results", args, precision, workers)
                ratio = alone / seconds
                print(f"  Trainer.test, {workers} workers: {seconds:.2f} s ({n_images / seconds:.2f} img/s), "
                      f"{ratio:.0%} of backbone-only throughput")
                accounted = 0.0
                for stage, stage_seconds in stages.items():
                    if stage == "decode+resize" and workers:
                        continue  # spent in the worker processes, not here
                    accounted += stage_seconds
                    print(f"    {stage:<18} {stage_seconds:7.2f} s  {stage_seconds / seconds:6.1%}")
                print(f"    {'rest':<18} {seconds - accounted:7.2f} s  {(seconds - accounted) / seconds:6.1%}")
                summary[f"{mode}_w{workers}_ratio"] = ratio
                summary[f"{mode}_w{workers}_img_s"] = n_images / seconds
            summary[f"{mode}_backbone_img_s"] = n_images / alone
    fields = " ".join(f"{key}={value:.4g}" for key, value in summary.items())
    print(f"SUMMARY pipeline preset={args.preset} size={args.size} batch={args.batch} images={n_images} {fields}")


if __name__ == "__main__":
    main()
