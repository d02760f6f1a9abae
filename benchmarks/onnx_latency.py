"""Latency per image of the exported ONNX model (onnxruntime, CPU) against the same model in PyTorch, in one run.

    python benchmarks/onnx_latency.py [--size 224] [--batch 1 4] [--repeats 5] [--threads 0]

Weights are random (official ones cannot be downloaded here) in the official ViT-S/14 file
format, so the arithmetic is the real S model's. Both sides run the image side only: image tower,
scoring with precomputed text features, anomaly map with the Gaussian smoothing. PyTorch is
`TipsomalyModel.forward` under `torch.inference_mode` (text features cached after the warm-up).
Prints one line per batch size and a final parseable summary line.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from lightning_modules.deploy import Detector  # noqa: E402
from lightning_modules.deploy.onnx_export import OnnxDetector, export_onnx  # noqa: E402
from lightning_modules.tips import load_tips  # noqa: E402
from tests.deploy.conftest import write_prompt_file  # noqa: E402
from tests.official_format import write_random_checkpoint  # noqa: E402
from harness import timed  # noqa: E402


def best_time(fn, repeats: int) -> float:
    """Best of `repeats` timed calls after one warm-up call."""
    fn()
    return timed(fn, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default); onnxruntime uses its default")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        tips = load_tips(**write_random_checkpoint(folder / "checkpoints"))
        prompts = write_prompt_file(folder / "p.pt", width=tips.text_width, image_size=args.size)
        detector = Detector.load(prompts, backbone=tips, class_name="bottle")
        start = time.perf_counter()
        path = export_onnx(detector.model, folder / "s14.onnx", ["bottle"], args.size)
        export_s = time.perf_counter() - start
        onnx = OnnxDetector(path)
        print(f"ViT-S/14 image side at {args.size} px, CPU threads: torch {torch.get_num_threads()}; export took {export_s:.1f} s, "
              f"{path.stat().st_size / 2**20:.0f} MiB")
        ratios = []
        for batch in args.batch:
            images = torch.rand(batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(batch))
            names = ["bottle"] * batch
            array = images.numpy()

            def run_torch():
                with torch.inference_mode():
                    return detector.model(images, names, check=False)

            torch_s = best_time(run_torch, args.repeats) / batch
            onnx_s = best_time(lambda: onnx(array, names), args.repeats) / batch
            diff = float(np.abs(onnx(array, names)[1] - run_torch().anomaly_map.numpy()).max())
            ratios.append(torch_s / onnx_s)
            print(f"batch {batch}: PyTorch {torch_s * 1e3:.1f} ms/image, onnxruntime {onnx_s * 1e3:.1f} ms/image, "
                  f"PyTorch/ONNX x{torch_s / onnx_s:.2f}; max |map diff| {diff:.1e}")
        print(f"SUMMARY onnx_latency size={args.size} " + " ".join(f"b{b}_speedup={r:.2f}" for b, r in zip(args.batch, ratios)))


if __name__ == "__main__":
    main()
