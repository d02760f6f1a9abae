"""Random TIPS checkpoints of an official size (S, B, L, So400m, g), written in the official `.npz` layout.

Official weights cannot be downloaded here. A tower's arithmetic depends on its sizes only, so
these files time exactly what the official ones would (benchmarks), and `load_tips` reads them
through the same conversion code (export tests). Norm weights are perturbed so that a layer-norm
mix-up cannot hide behind all-ones weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lightning_modules.tips import TEXT_PRESETS, VISION_PRESETS

TOKENIZER = Path(__file__).parent / "data" / "tips" / "tokenizer.model"
POS_GRID = 32  # the official high-resolution checkpoints' 32 x 32 position grid (448 px)
TEXT_VOCAB = 1000  # enough rows for the fixture tokenizer's 80 pieces; official files have 32000


def _vision_arrays(preset: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    p = VISION_PRESETS[preset]
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
    if p.ffn_layer == "swiglu":
        mlp = {"mlp.w12.weight": normal(2 * h, d), "mlp.w12.bias": normal(2 * h), "mlp.w3.weight": normal(d, h), "mlp.w3.bias": normal(d)}
    else:
        mlp = {"mlp.fc1.weight": normal(h, d), "mlp.fc1.bias": normal(h), "mlp.fc2.weight": normal(d, h), "mlp.fc2.bias": normal(d)}
    for i in range(p.depth):
        block = {
            "norm1.weight": 1 + normal(d, std=0.1), "norm1.bias": normal(d),
            "attn.qkv.weight": normal(3 * d, d, std=d**-0.5), "attn.qkv.bias": normal(3 * d),
            "attn.proj.weight": normal(d, d), "attn.proj.bias": normal(d),
            "ls1.gamma": np.full(d, 0.1, np.float32),
            "norm2.weight": 1 + normal(d, std=0.1), "norm2.bias": normal(d),
            "ls2.gamma": np.full(d, 0.1, np.float32),
            **mlp,
        }  # fmt: skip
        arrays |= {f"blocks.{i}.{key}": value for key, value in block.items()}
    return arrays


def _text_arrays(preset: str, rng: np.random.Generator, vocab: int = TEXT_VOCAB) -> dict[str, np.ndarray]:
    p = TEXT_PRESETS[preset]
    d, h = p.width, p.mlp_dim
    normal = lambda *shape, std=0.02: (rng.standard_normal(shape) * std).astype(np.float32)  # noqa: E731
    arrays = {"token_embedding.weight": normal(vocab, d, std=1.0), "ln_final.weight": np.ones(d, np.float32),
              "ln_final.bias": np.zeros(d, np.float32), "temperature": np.array(0.01, np.float32)}  # fmt: skip
    for i in range(p.num_layers):
        block = {
            "attn.in_proj_weight": normal(3 * d, d, std=d**-0.5), "attn.in_proj_bias": normal(3 * d),
            "attn.out_proj.weight": normal(d, d), "attn.out_proj.bias": normal(d),
            "ln_1.weight": np.ones(d, np.float32), "ln_1.bias": np.zeros(d, np.float32),
            "mlp.c_fc.weight": normal(h, d), "mlp.c_fc.bias": normal(h),
            "mlp.c_proj.weight": normal(d, h), "mlp.c_proj.bias": normal(d),
            "ln_2.weight": np.ones(d, np.float32), "ln_2.bias": np.zeros(d, np.float32),
        }  # fmt: skip
        arrays |= {f"transformer.resblocks.{i}.{key}": value for key, value in block.items()}
    return arrays


def write_random_checkpoint(
    folder: Path, preset: str = "S", seed: int = 0, basename: str | None = None, text_vocab: int = TEXT_VOCAB
) -> dict[str, str]:
    """Write `<basename>_{vision,text}.npz` into `folder` (default basename `tips_random_<preset>14`); returns
    `load_tips` keyword arguments. text_vocab: rows of the token table (official files: 32000)."""
    if preset not in VISION_PRESETS:
        raise ValueError(f"official_format.py: unknown preset {preset!r}; expected one of {sorted(VISION_PRESETS)}")
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    basename = basename or f"tips_random_{preset}14"
    vision, text = folder / f"{basename}_vision.npz", folder / f"{basename}_text.npz"
    np.savez(vision, **_vision_arrays(preset, rng))
    np.savez(text, **_text_arrays(preset, rng, text_vocab))
    return dict(vision_checkpoint=str(vision), text_checkpoint=str(text), tokenizer=str(TOKENIZER))
