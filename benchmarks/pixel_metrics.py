"""Time and peak memory of PixelMetrics (streaming) against its exact mode and a 200-threshold loop.

    python benchmarks/pixel_metrics.py [--maps 150] [--size 256] [--batch 8]

One MVTec-class-sized test set of synthetic anomaly maps (smooth texture, defects scored higher)
is scored three ways in one run, on CPU:

- streaming: ``PixelMetrics()``, histograms updated per batch (the default);
- exact: ``PixelMetrics(exact=True)``, every pixel kept and sorted once;
- threshold loop: every map and mask kept, then AUPRO alone by 200 evenly spaced thresholds,
  each a full pass over all pixels with a per-region count (the paper code's procedure,
  vectorised over regions with ``bincount``); AUROC / AP / F1-max would come on top.

Times are the fastest of --repeats runs, on --threads torch threads (default 1: with two
threads on a shared 2-core machine, one descheduled thread stalls every parallel op). Each
method runs in a fresh process that loads the same maps, warms up on a small crop, resets its
resident-set high-water mark (Linux /proc/self/clear_refs) and reports the peak above the
resident set at that moment: the maps themselves, which every method is handed, are not
counted, and no method inherits another's freed-but-cached memory. "state" is the size of what
each method keeps until compute. The streaming peak is the per-batch working memory: it grows
with --batch and the map size, not with --maps.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from scipy.ndimage import gaussian_filter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_modules.metrics import PixelMetrics  # noqa: E402
from lightning_modules.metrics.aupro import aupro_reference  # noqa: E402


def synthetic_maps(n: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 maps [n, size, size] in [0, 1] and bool masks; half the images hold 1-3 defects."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    masks = np.zeros((n, size, size), bool)
    for i in range(n // 2, n):
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(0.1, 0.9, 2) * size
            ry, rx = rng.uniform(0.02, 0.12, 2) * size
            masks[i] |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    maps = np.empty((n, size, size), np.float32)
    for i in range(n):  # one image at a time keeps the generator's own memory small
        texture = gaussian_filter(rng.normal(size=(size, size)), sigma=4)
        defect = gaussian_filter(masks[i].astype(np.float32), sigma=3) * rng.uniform(0.1, 0.5)
        maps[i] = np.clip(0.35 + 0.06 * texture / 0.07 + defect, 0, 1)  # 0.07: the filtered noise's std
    return torch.from_numpy(maps), torch.from_numpy(masks)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"benchmarks/pixel_metrics.py: no {field} in /proc/self/status (Linux only)")


def _measure(run):
    """Run ``run()``; returns (its result, seconds, peak MiB above the resident set at the start)."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    start_rss = _status_kib("VmRSS")
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    return result, seconds, (_status_kib("VmHWM") - start_rss) / 1024


def _state_mib(metric: PixelMetrics) -> float:
    total = 0
    for name in metric._defaults:
        value = getattr(metric, name)
        total += sum(t.nbytes for t in value) if isinstance(value, list) else value.nbytes
    return total / 2**20


def run_metric(maps, masks, batch: int, **kwargs):
    metric = PixelMetrics(**kwargs)
    for start in range(0, len(maps), batch):
        metric.update(maps[start : start + batch], masks[start : start + batch])
    return metric.compute(), _state_mib(metric)


def run_threshold_loop(maps, masks, steps: int = 200, fpr_limit: float = 0.3):
    kept_maps, kept_masks = maps.clone(), masks.clone()  # what a keep-everything metric holds
    labels, n_regions = ndimage.label(kept_masks.numpy(), structure=np.pad(np.ones((1, 3, 3), bool), ((1, 1), (0, 0), (0, 0))))
    labels = torch.from_numpy(labels).reshape(-1).long()
    region_sizes = torch.bincount(labels, minlength=n_regions + 1)[1:].double()
    flat, normal = kept_maps.reshape(-1), ~kept_masks.reshape(-1)
    low, high = flat.min().item(), flat.max().item()
    fps, masses = [], []
    for th in torch.arange(low, high, (high - low) / steps):
        flagged = flat > th
        fps.append((flagged & normal).sum().item())
        overlap = torch.bincount(labels[flagged], minlength=n_regions + 1)[1:] / region_sizes
        masses.append(overlap.sum().item())
    aupro = aupro_reference(
        torch.tensor(fps, dtype=torch.float64), torch.tensor(masses, dtype=torch.float64),
        float(normal.sum()), float(n_regions), fpr_limit,
    )
    state = (kept_maps.nbytes + kept_masks.nbytes + labels.nbytes) / 2**20
    return {"aupro": aupro}, state


METHODS = {
    "streaming (mvtec AUPRO)": lambda maps, masks, batch: run_metric(maps, masks, batch),
    "exact (mvtec AUPRO)": lambda maps, masks, batch: run_metric(maps, masks, batch, exact=True),
    "streaming (reference AUPRO)": lambda maps, masks, batch: run_metric(maps, masks, batch, aupro_definition="reference"),
    "exact (reference AUPRO)": lambda maps, masks, batch: run_metric(maps, masks, batch, exact=True, aupro_definition="reference"),
    "200-threshold loop (reference AUPRO only)": lambda maps, masks, batch: run_threshold_loop(maps, masks),
}


def child(method: str, data: Path, batch: int, repeats: int) -> None:
    """Run one method on the saved maps and print its measurements as one JSON line."""
    maps, masks = torch.from_numpy(np.load(data / "maps.npy")), torch.from_numpy(np.load(data / "masks.npy"))
    METHODS[method](maps[-2:, :64, :64].clone(), masks[-2:, :64, :64].clone(), batch)  # one-time set-up costs
    (values, state), seconds, peak = _measure(lambda: METHODS[method](maps, masks, batch))
    for _ in range(repeats - 1):  # the fastest of the repeats: shared CPUs make single timings noisy
        seconds = min(seconds, _measure(lambda: METHODS[method](maps, masks, batch))[1])
    print(json.dumps({"values": values, "state": state, "seconds": seconds, "peak": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=int, default=150)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2, help="time = fastest of this many runs")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per method")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        return child(args.child, args.data, args.batch, args.repeats)

    maps, masks = synthetic_maps(args.maps, args.size)
    print(f"{args.maps} maps of {args.size}x{args.size} = {maps.numel() / 1e6:.1f} M pixels, "
          f"{int(masks.any(dim=(1, 2)).sum())} anomalous images, torch threads: {torch.get_num_threads()}")
    measured = {}
    print(f"\n{'method':<42} {'time s':>8} {'peak MiB':>9} {'state MiB':>10}   results")
    with tempfile.TemporaryDirectory() as data:
        np.save(Path(data) / "maps.npy", maps.numpy())
        np.save(Path(data) / "masks.npy", masks.numpy())
        for name in METHODS:
            command = [sys.executable, __file__, "--child", name, "--data", data, "--batch", str(args.batch), "--repeats", str(args.repeats),
                       "--threads", str(args.threads)]
            report = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
            measured[name] = (report["seconds"], report["peak"])
            shown = " ".join(f"{k}={v:.5f}" for k, v in report["values"].items())
            print(f"{name:<42} {report['seconds']:8.2f} {report['peak']:9.1f} {report['state']:10.2f}   {shown}")

    base_time, base_peak = measured["streaming (mvtec AUPRO)"]
    print("\nrelative to streaming (mvtec AUPRO):")
    for name, (seconds, peak) in measured.items():
        print(f"  {name:<42} time x{seconds / base_time:6.1f}   peak memory x{peak / max(base_peak, 1e-9):6.1f}")


if __name__ == "__main__":
    main()
