"""What one CPU core of a data worker delivers, and how many workers a GPU would need.

    python benchmarks/decode.py [--size 518] [--images 12] [--gpu-rates 100,300,500]

Generated images with photo-like statistics (smooth shading, texture and sensor noise, so that
PNG and JPEG compress as real photos do): MVTec-like 1024 x 1024 PNG and VisA-like 1500 x 1000
JPEG (quality 95). One thread, so a figure is per core. Stages, per image:

- decode + resize: the data workers' path (`datamodules.image_io.read_image` then
  `datamodules.resize.resize_image` to the model size, as a float tensor);
- + mask: reading and resizing an anomalous image's mask and its AUPRO region weights
  (`lightning_modules.metrics.regions.region_weights`), which the GPU path moves into the workers;
- alternatives that close the gap: torchvision's libjpeg-turbo `decode_jpeg`, and a cache of
  images and masks already resized to the model size, read back from the data module's image cache
  (`image_cache_dir`, datamodules/resized_cache.py).

A ViT-L/14 at 518 px is about 1 TFLOP per image, so an H200 at 40-50% of its bf16 peak takes
several hundred images per second: the table says how many worker cores that many images need.
The last line is `SUMMARY decode key=value ...`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter

from harness import machine, timed
from datamodules.image_io import read_image, read_mask
from datamodules.resize import resize_image, resize_mask
from datamodules.resized_cache import ResizedImageCache  # noqa: E402
from lightning_modules.metrics.regions import region_weights


def photo_like(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 [H, W, 3]: shading + mid-frequency texture + pixel noise."""
    yy, xx = np.mgrid[:height, :width] / max(height, width)
    shading = 90 + 80 * np.sin(3 * xx + 1) * np.cos(2 * yy)
    small = rng.normal(size=(-(-height // 8), -(-width // 8), 3))
    texture = np.kron(gaussian_filter(small, sigma=(2, 2, 0)), np.ones((8, 8, 1)))[:height, :width] * 40
    noise = rng.normal(scale=4, size=(height, width, 3))
    return np.clip(shading[..., None] + texture + noise, 0, 255).astype(np.uint8)


def defect_mask(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[:height, :width]
    cy, cx = rng.uniform(0.2, 0.8, 2) * (height, width)
    return ((((yy - cy) / (0.05 * height)) ** 2 + ((xx - cx) / (0.08 * width)) ** 2) <= 1).astype(np.uint8) * 255


def per_image(paths: list[Path], fn) -> float:
    fn(paths[0])  # warm-up
    return timed(lambda: [fn(p) for p in paths]) / len(paths)


def bench_format(name: str, paths: list[Path], masks: list[Path], size: int, cache_dir: Path) -> dict[str, float]:
    decode_resize = per_image(paths, lambda p: resize_image(read_image(p), size))
    with_mask = decode_resize + per_image(masks, lambda p: region_weights(resize_mask(read_mask(p, 128), size).numpy() > 0))
    figures = {"decode_resize": decode_resize, "with_mask": with_mask}
    if paths[0].suffix == ".jpg":
        from torchvision.io import decode_jpeg, read_file

        def turbo(p: Path) -> torch.Tensor:
            image = decode_jpeg(read_file(str(p)))
            return torch.nn.functional.interpolate(image[None].float() / 255, (size, size), mode="bilinear", antialias=True)

        figures["torchvision_decode_resize"] = per_image(paths, turbo)
    cache = ResizedImageCache(cache_dir / name)  # the data module's image_cache_dir: image and mask together
    keys = [cache.key(str(p), str(m), size, "reference", 128) for p, m in zip(paths, masks)]
    for key, path, mask in zip(keys, paths, masks):
        cache.save(key, resize_image(read_image(path), size), resize_mask(read_mask(mask, 128), size))
    figures["image_cache_read"] = per_image(keys, cache.load)
    return figures


def bench_dataset_items(folder: Path, size: int) -> dict[str, float]:
    """A whole AnomalyDataset item (image, mask, fingerprint, region weights), decoded vs from the image cache."""
    from datamodules import AnomalyDataset, DatasetSpec, make_synthetic_dataset

    root = make_synthetic_dataset(folder / "data", n_normal=4, n_anomalous=4, image_size=1024)
    dataset = AnomalyDataset.from_spec(DatasetSpec("s", "mvtec", str(root)), image_size=size, image_cache_dir=str(folder / "cache"))
    indices = list(range(len(dataset)))
    decoded = timed(lambda: [dataset[i] for i in indices]) / len(indices)  # the first pass also fills the cache
    cached = timed(lambda: [dataset[i] for i in indices]) / len(indices)
    print(f"AnomalyDataset items (synthetic 1024 px PNG + mask, to {size} px, with fingerprint and region weights):")
    print(f"  decoded {decoded * 1e3:.1f} ms ({1 / decoded:.0f} img/s), from image_cache_dir {cached * 1e3:.1f} ms ({1 / cached:.0f} img/s)")
    return {"dataset_item_decoded_img_s": 1 / decoded, "dataset_item_cached_img_s": 1 / cached}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=518)
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--gpu-rates", type=lambda s: [float(v) for v in s.split(",")], default=[100, 300, 500])
    args = parser.parse_args()
    torch.set_num_threads(1)  # a data worker's view: one core
    print(machine() + " (measured on one thread)")
    rng = np.random.default_rng(0)
    summary = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        formats = {"mvtec_png_1024": (1024, 1024, ".png"), "visa_jpeg_1500x1000": (1000, 1500, ".jpg")}
        print(f"\nper core, to {args.size} px; ms per image and images/s; workers needed for a GPU at "
              + ", ".join(f"{r:.0f}" for r in args.gpu_rates) + " img/s")
        for name, (height, width, suffix) in formats.items():
            paths, masks = [], []
            for index in range(args.images):
                paths.append(root / f"{name}_{index}{suffix}")
                Image.fromarray(photo_like(height, width, rng)).save(paths[-1], **({"quality": 95} if suffix == ".jpg" else {}))
                masks.append(root / f"{name}_{index}_mask.png")
                Image.fromarray(defect_mask(height, width, rng)).save(masks[-1])
            size_kib = sum(p.stat().st_size for p in paths) / len(paths) / 1024
            print(f"{name} ({size_kib:.0f} KiB per file):")
            for stage, seconds in bench_format(name, paths, masks, args.size, root).items():
                workers = " ".join(f"{rate * seconds:6.1f}" for rate in args.gpu_rates)
                print(f"  {stage:<26} {seconds * 1e3:7.1f} ms  {1 / seconds:6.1f} img/s  workers: {workers}")
                summary[f"{name}_{stage}_img_s"] = 1 / seconds
        summary.update(bench_dataset_items(root / "items", args.size))
    fields = " ".join(f"{key}={value:.4g}" for key, value in summary.items())
    print(f"SUMMARY decode size={args.size} {fields}")


if __name__ == "__main__":
    main()
