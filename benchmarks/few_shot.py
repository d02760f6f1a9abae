"""Few-shot mode's cost: the memory-bank search (exact nearest neighbour over k reference images' patch tokens,
plus the upsampled, smoothed few-shot map) per image, against the image tower's time per image, measured in the
same run, and the memory one class's bank holds.

    python benchmarks/few_shot.py [--preset S] [--size 518] [--k 4] [--batch 4] [--repeats 3] [--device cpu]

Random official-format weights (benchmarks/harness.py); the search cost depends only on the sizes (patches per
image, width, k), not on the values. The last line is `SUMMARY few_shot key=value ...` for scripts.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from backbone import flops_per_image
from harness import machine, timed, write_random_checkpoint
from lightning_modules.tips import load_tips
from lightning_modules.tips.vision_tower import PATCH_SIZE
from lightning_modules.tipsomaly.few_shot import few_shot_map, memory_bank, nearest_distances


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="S")
    parser.add_argument("--size", type=int, default=518)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    print(machine())
    with tempfile.TemporaryDirectory() as folder:
        tips = load_tips(**write_random_checkpoint(Path(folder), args.preset), device=device)
    images = torch.rand(args.batch, 3, args.size, args.size, device=device)
    references = torch.rand(args.k, 3, args.size, args.size, device=device)
    grid = (args.size // PATCH_SIZE, args.size // PATCH_SIZE)
    with torch.inference_mode():
        patches = tips.encode_image(images)[2]
        bank = memory_bank(tips.encode_image(references)[2])[None]  # [1, k * N, D]
        def search():
            distances = nearest_distances(patches, bank)
            return few_shot_map(distances, grid, (args.size, args.size), sigma=4.0)

        search()
        # interleaved rounds, best of each: on a shared machine the load drifts between two separate series
        tower = per_image = distances_only = float("inf")
        for _ in range(args.repeats):
            tower = min(tower, timed(lambda: tips.encode_image(images), 1, sync) / args.batch)
            per_image = min(per_image, timed(search, 1, sync) / args.batch)
            distances_only = min(distances_only, timed(lambda: nearest_distances(patches, bank), 1, sync) / args.batch)
    bank_mib = bank.numel() * bank.element_size() / 2**20
    ratio = per_image / tower
    # machine-independent: multiply-adds of the exact search (N x M x D) against the tower's counted FLOPs
    search_gflop = 2 * patches.shape[1] * bank.shape[1] * bank.shape[-1] / 1e9
    tower_gflop = flops_per_image(tips.vision, args.size, device) / 1e9
    print(f"ViT-{args.preset}/14 at {args.size} px ({grid[0]}x{grid[1]} patches, width {bank.shape[-1]}), k={args.k}, batch {args.batch}, {device}")
    print(f"image tower          {tower * 1e3:9.1f} ms / image")
    print(f"memory-bank search   {per_image * 1e3:9.1f} ms / image  ({ratio:.1%} of the tower; distances alone {distances_only * 1e3:.1f} ms)")
    print(f"memory per class     {bank_mib:9.2f} MiB  ({bank.shape[1]} patches x {bank.shape[-1]} float32)")
    print(f"FLOPs per image      search {search_gflop:.2f} GFLOP vs tower {tower_gflop:.1f} GFLOP ({search_gflop / tower_gflop:.1%})")
    print(f"SUMMARY few_shot preset={args.preset} size={args.size} k={args.k} batch={args.batch} device={device.type} "
          f"tower_ms={tower * 1e3:.1f} search_ms={per_image * 1e3:.1f} distances_ms={distances_only * 1e3:.1f} "
          f"search_over_tower={ratio:.3f} search_gflop={search_gflop:.2f} tower_gflop={tower_gflop:.1f} bank_mib_per_class={bank_mib:.2f}")


if __name__ == "__main__":
    main()
