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
   features) against recomputing the image tower every epoch, as the reference does;
4. text tokens cut to the longest sentence (after the prompts are placed) against the full 64
   tokens, for a tiny and an S-sized random text tower: the fixed-prompt features of the 15 MVTec
   AD classes (one encoder call per state, as `FixedPromptFeatures`) and one training step of the
   default learned prompts (concat, 8 per state; forward and backward), also with deep prompts.
   Sentences are tokenised with the test tokenizer (tests/data/tips, 80 pieces), which splits words
   more finely than the official 32k one: its sentences are longer, so the measured gain is a lower bound.
   The last line is `SUMMARY text_cut ...`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_modules.tips import TEXT_PRESETS, VISION_PRESETS, TextConfig, TipsModel, TipsTextTower, TipsTokenizer, TipsVisionTower, VisionConfig  # noqa: E402
from lightning_modules.tipsomaly.fixed_prompts import prompt_sentences  # noqa: E402
from lightning_modules.tipsomaly.learnable_prompts import LearnablePrompts  # noqa: E402
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


MVTEC_CLASSES = ("bottle", "cable", "capsule", "carpet", "grid", "hazelnut", "leather", "metal nut", "pill", "screw",
                 "tile", "toothbrush", "transistor", "wood", "zipper")
TOKENIZER = Path(__file__).resolve().parents[1] / "tests" / "data" / "tips" / "tokenizer.model"


@contextlib.contextmanager
def full_length_text():
    """The text tower as before the cut: every batch kept at its full 64 tokens."""
    remembered = TipsTextTower._remembered_length
    TipsTextTower._remembered_length = lambda self, paddings, placed, key: placed.shape[1]
    try:
        yield
    finally:
        TipsTextTower._remembered_length = remembered


def matmul_gflop(fn) -> float:
    """GFLOP of one call, counted by torch's flop counter: a load-independent measure of the work. (It does not see
    inside the fused CPU attention kernel, so this is the projections' and MLPs' work, ~90% of the text tower's.)"""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops() / 1e9


def _text_model(config: TextConfig) -> TipsModel:
    vision = TipsVisionTower(VisionConfig(config.width, 1, config.num_heads, config.mlp_dim, "mlp", pos_grid=2))
    return TipsModel(vision, TipsTextTower(config), TipsTokenizer(TOKENIZER), temperature=0.01)


def bench_text_cut(repeats: int) -> dict[str, float]:
    """Seconds before (64 tokens) and after (cut) for fixed-prompt features and learned-prompt training steps."""
    s = TEXT_PRESETS["S"]
    towers = {"tiny": TextConfig(64, 2, 4, 256, vocab_size=1000), "S": TextConfig(s.width, s.num_layers, s.num_heads, s.mlp_dim, vocab_size=32000)}
    batches = [sentences for name in MVTEC_CLASSES for sentences in prompt_sentences("industrial", name)]
    lengths = [int((tokens[1] == 0).sum(1).max()) for tokens in map(TipsTokenizer(TOKENIZER), batches)]
    print(f"text tokens: {len(batches)} fixed-prompt batches of {min(map(len, batches))}-{max(map(len, batches))} sentences, "
          f"longest sentence {min(lengths)}-{max(lengths)} of 64 tokens")
    summary = {}
    for size, config in towers.items():
        model = _text_model(config)

        def fixed(full: bool):
            with torch.no_grad():
                for sentences in batches:
                    if full:
                        model.text(*model.tokenizer(sentences), kept_length=64)  # the encoder call as it was
                    else:
                        model.encode_text(sentences)

        for deep in (0, min(2, config.num_layers - 1)):  # deep prompts enter layers 1 .. deep
            torch.manual_seed(0)
            prompts = LearnablePrompts(config.width, n_prompt=8, method="concat", n_deep=4 * (deep > 0), d_deep=deep)

            def step():
                prompts.zero_grad()
                prompts.text_features(model, "industrial").square().sum().backward()

            with full_length_text():
                before, work_before = best_time(step, repeats), matmul_gflop(step)
            after, work_after = best_time(step, repeats), matmul_gflop(step)
            n_sentences = sum(map(len, prompt_sentences("industrial", "object")))
            label = f"{size}_train{'_deep' if deep else ''}"
            summary |= {f"{label}_before_ms": before * 1e3, f"{label}_after_ms": after * 1e3, f"{label}_speedup": before / after,
                        f"{label}_flop_ratio": work_before / work_after}
            print(f"text tower {size}, one learned-prompt training step (concat, 8 prompts{f', deep {deep}x4' if deep else ''}, "
                  f"{n_sentences} sentences, forward + backward): 64 tokens {before * 1e3:.1f} ms, cut {after * 1e3:.1f} ms, "
                  f"x{before / after:.2f}; {work_before:.2f} vs {work_after:.2f} GFLOP, x{work_before / work_after:.2f}")
        before, after = best_time(lambda: fixed(True), repeats), best_time(lambda: fixed(False), repeats)
        work_before, work_after = matmul_gflop(lambda: fixed(True)), matmul_gflop(lambda: fixed(False))
        summary |= {f"{size}_fixed_before_ms": before * 1e3, f"{size}_fixed_after_ms": after * 1e3, f"{size}_fixed_speedup": before / after,
                    f"{size}_fixed_flop_ratio": work_before / work_after}
        print(f"text tower {size}, fixed-prompt features of 15 classes ({len(batches)} encoder calls): "
              f"64 tokens {before * 1e3:.1f} ms, cut {after * 1e3:.1f} ms, x{before / after:.2f}; "
              f"{work_before:.2f} vs {work_after:.2f} GFLOP, x{work_before / work_after:.2f}")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=518)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--only-text-cut", action="store_true", help="run only comparison 4 (text tokens cut)")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if not args.only_text_cut:
        bench_text(args.repeats)
        bench_maps(args.size, args.batch, args.repeats)
        bench_training_epochs(args.size, args.batch, args.epochs)
    summary = bench_text_cut(args.repeats)
    print("SUMMARY text_cut " + " ".join(f"{key}={value:.3g}" for key, value in summary.items()))


if __name__ == "__main__":
    main()
