"""Random TIPS checkpoints of the official S size, written in the official `.npz` layout (for export tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lightning_modules.tips import TEXT_PRESETS, VISION_PRESETS
from tests.conftest import TIPS_DATA

POS_GRID = 32  # the official high-resolution checkpoints' 32 x 32 position grid (448 px)
TEXT_VOCAB = 1000  # enough rows for the fixture tokenizer's 80 pieces


def _vision_arrays(rng: np.random.Generator) -> dict[str, np.ndarray]:
    p = VISION_PRESETS["S"]
    d, h = p.embed_dim, p.mlp_hidden
    normal = lambda *shape, std=0.02: (rng.standard_normal(shape) * std).astype(np.float32)  # noqa: E731
    arrays = {
        "cls_token": normal(1, 1, d),
        "pos_embed": normal(1, POS_GRID * POS_GRID + 1, d),
        "register_tokens": normal(1, 1, d),
        "mask_token": np.zeros((1, d), np.float32),
        "patch_embed.proj.weight": normal(d, 3, 14, 14),
        "patch_embed.proj.bias": normal(d),
        "norm.weight": 1 + normal(d, std=0.1),
        "norm.bias": normal(d),
    }
    for i in range(p.depth):
        b = f"blocks.{i}."
        arrays |= {
            b + "norm1.weight": 1 + normal(d, std=0.1), b + "norm1.bias": normal(d),
            b + "attn.qkv.weight": normal(3 * d, d, std=d**-0.5), b + "attn.qkv.bias": normal(3 * d),
            b + "attn.proj.weight": normal(d, d), b + "attn.proj.bias": normal(d),
            b + "ls1.gamma": np.full(d, 0.1, np.float32),
            b + "norm2.weight": 1 + normal(d, std=0.1), b + "norm2.bias": normal(d),
            b + "mlp.fc1.weight": normal(h, d), b + "mlp.fc1.bias": normal(h),
            b + "mlp.fc2.weight": normal(d, h), b + "mlp.fc2.bias": normal(d),
            b + "ls2.gamma": np.full(d, 0.1, np.float32),
        }
    return arrays


def _text_arrays(rng: np.random.Generator) -> dict[str, np.ndarray]:
    p = TEXT_PRESETS["S"]
    d, h = p.width, p.mlp_dim
    normal = lambda *shape, std=0.02: (rng.standard_normal(shape) * std).astype(np.float32)  # noqa: E731
    arrays = {"token_embedding.weight": normal(TEXT_VOCAB, d, std=1.0), "ln_final.weight": np.ones(d, np.float32),
              "ln_final.bias": np.zeros(d, np.float32), "temperature": np.array(0.01, np.float32)}
    for i in range(p.num_layers):
        b = f"transformer.resblocks.{i}."
        arrays |= {
            b + "attn.in_proj_weight": normal(3 * d, d, std=d**-0.5), b + "attn.in_proj_bias": normal(3 * d),
            b + "attn.out_proj.weight": normal(d, d), b + "attn.out_proj.bias": normal(d),
            b + "ln_1.weight": np.ones(d, np.float32), b + "ln_1.bias": np.zeros(d, np.float32),
            b + "mlp.c_fc.weight": normal(h, d), b + "mlp.c_fc.bias": normal(h),
            b + "mlp.c_proj.weight": normal(d, h), b + "mlp.c_proj.bias": normal(d),
            b + "ln_2.weight": np.ones(d, np.float32), b + "ln_2.bias": np.zeros(d, np.float32),
        }
    return arrays


def write_random_s_checkpoint(folder: Path, seed: int = 0) -> dict[str, str]:
    """Write `tips_random_s14_{vision,text}.npz` (official keys and S sizes, random values) and return `load_tips` paths."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    vision, text = folder / "tips_random_s14_vision.npz", folder / "tips_random_s14_text.npz"
    np.savez(vision, **_vision_arrays(rng))
    np.savez(text, **_text_arrays(rng))
    return dict(vision_checkpoint=str(vision), text_checkpoint=str(text), tokenizer=str(TIPS_DATA / "tokenizer.model"))
