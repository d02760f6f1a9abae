"""Our TIPS + Tipsomaly hot paths against the reference's way of computing them, in one run, on CPU.

    python benchmarks/tipsomaly_inference.py [--size 518] [--batch 8] [--repeats 3]

Weights are random (official ones cannot be downloaded here); the towers have the official
ViT-S/14 and text-S sizes, so the arithmetic is the real one. Three comparisons:

1. text tower: our fused attention with a boolean key-padding mask, against the official
   implementation's per-call [B*heads, L, L] float mask built by repeat + masked assignment
   through nn.MultiheadAttention (transcribed below), on the 28 sentences of one industrial
   ensemble state x template set;
2. anomaly maps: our batched torch upsample + Gaussian (one call, on the batch's device),
   against the reference's per-map scipy `gaussian_filter` loop on the CPU;
3. prompt training epochs: the frozen-feature cache (epochs after the first reuse the visual
   features) against recomputing the image tower every epoch, as the reference does.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_modules.tips import TEXT_PRESETS, VISION_PRESETS, TextConfig, TipsTextTower, TipsVisionTower, VisionConfig  # noqa: E402
from datamodules.fingerprint import image_fingerprint  # noqa: E402
from lightning_modules.tipsomaly.feature_cache import FeatureCache  # noqa: E402
from lightning_modules.tipsomaly.scoring import anomaly_map  # noqa: E402
from harness import timed  # noqa: E402


def best_time(fn, repeats: int) -> float:
    """Best of `repeats` timed calls after one warm-up call."""
    fn()
    return timed(fn, repeats)


def official_style_text(tower: TipsTextTower, ids: torch.Tensor, paddings: torch.Tensor) -> torch.Tensor:
    """The official text encoder's computation: [L, B, D] layout, nn.MultiheadAttention, float mask per call."""
    heads = tower.config.num_heads
    x = tower.embed_tokens(ids) + tower.positions(ids.shape[1], tower.token_embedding.weight)
    mask = (paddings == 0).float()
    x = x.permute(1, 0, 2)
    for block in tower.transformer.resblocks:
        mha = block._official_mha
        attn_mask = mask[:, None, None, :].repeat(1, heads, x.shape[0], 1).flatten(0, 1)
        attn_mask[attn_mask == 0] = float("-inf")
        attn_mask[attn_mask == 1] = 0
        h = block.ln_1(x)
        x = x + mha(h, h, h, need_weights=False, attn_mask=attn_mask)[0]
        h = F.relu(block.mlp.c_fc(block.ln_2(x))) * mask.T[..., None]
        x = x + block.mlp.c_proj(h) * mask.T[..., None]
    x = tower.ln_final(x.permute(1, 0, 2))
    keep = mask[..., None]
    return (x * keep).sum(1) / (keep.sum(1) + 1e-8)


def bench_text(repeats: int) -> None:
    p = TEXT_PRESETS["S"]
    tower = TipsTextTower(TextConfig(p.width, p.num_layers, p.num_heads, p.mlp_dim, vocab_size=32000)).eval()
    for block in tower.transformer.resblocks:
        mha = torch.nn.MultiheadAttention(p.width, p.num_heads)
        mha.in_proj_weight.data.copy_(block.attn.in_proj_weight)
        mha.in_proj_bias.data.copy_(block.attn.in_proj_bias)
        mha.out_proj.load_state_dict(block.attn.out_proj.state_dict())
        block._official_mha = mha.eval()
    ids = torch.randint(3, 32000, (28, 64))
    paddings = torch.ones(28, 64, dtype=torch.long)
    ids[:, 12:] = 0
    paddings[:, :12] = 0
    with torch.no_grad():
        ours_out = tower(ids, paddings)
        theirs_out = official_style_text(tower, ids, paddings)
        diff = (ours_out - theirs_out).abs().max().item()
        ours = best_time(lambda: tower(ids, paddings), repeats)
        theirs = best_time(lambda: official_style_text(tower, ids, paddings), repeats)
    print(f"text tower S, 28 sentences: ours {ours * 1e3:.1f} ms, official-style {theirs * 1e3:.1f} ms, "
          f"speed-up x{theirs / ours:.2f} (max |diff| {diff:.1e})")


def bench_maps(size: int, batch: int, repeats: int) -> None:
    grid = size // 14
    probs = torch.rand(batch, grid * grid, 2).softmax(-1)

    def reference():
        on_grid = probs.reshape(batch, grid, grid, 2).permute(0, 3, 1, 2)
        up = F.interpolate(on_grid, (size, size), mode="bilinear").permute(0, 2, 3, 1)
        rough = (1 - up[..., 0] + up[..., 1]) / 2
        return torch.stack([torch.from_numpy(gaussian_filter(m.numpy(), sigma=4)) for m in rough])

    diff = (anomaly_map(probs, (grid, grid), (size, size), 4.0) - reference()).abs().max().item()
    ours = best_time(lambda: anomaly_map(probs, (grid, grid), (size, size), 4.0), repeats)
    theirs = best_time(reference, repeats)
    print(f"anomaly maps {batch}x{size}x{size}: ours {ours * 1e3:.1f} ms, reference scipy loop {theirs * 1e3:.1f} ms, "
          f"speed-up x{theirs / ours:.2f} (max |diff| {diff:.1e})")


def bench_training_epochs(size: int, batch: int, epochs: int) -> None:
    p = VISION_PRESETS["S"]
    tower = TipsVisionTower(VisionConfig(p.embed_dim, p.depth, p.num_heads, p.mlp_hidden, p.ffn_layer, pos_grid=32)).eval()
    images = torch.rand(batch, 3, size, size)
    fingerprints = [image_fingerprint(image) for image in images]  # the cache keys on the input tensors

    def run(mode: str) -> float:
        cache = FeatureCache(mode, backbone_key="bench")
        start = time.perf_counter()
        with torch.no_grad():
            for _ in range(epochs):
                cache.lookup(fingerprints, "float32", images.device, lambda rows: tower(images[rows]))
        return time.perf_counter() - start

    recompute, cached = run("off"), run("memory")
    print(f"image side of {epochs} training epochs, ViT-S at {size}px, {batch} images: recomputing (reference) "
          f"{recompute:.2f} s, frozen-feature cache {cached:.2f} s, speed-up x{recompute / cached:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=518)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_text(args.repeats)
    bench_maps(args.size, args.batch, args.repeats)
    bench_training_epochs(args.size, args.batch, args.epochs)


if __name__ == "__main__":
    main()
