"""Official TIPS `.npz` arrays -> this project's modules: sizes from shapes, keys to timm's.

Pure functions over dicts of arrays; no file handling here (see `checkpoint_files.py`).
"""

from __future__ import annotations

import re
from typing import Mapping

import numpy as np
import torch

from .errors import TipsCheckpointError
from .presets import TEXT_PRESETS, VISION_PRESETS, check_head_count, heads_for_width
from .text_tower import TextConfig
from .vision_tower import PATCH_SIZE, VisionConfig

# Keys in the text file that are not weights of the text tower.
TEMPERATURE_KEYS = ("temperature", "temperature_contrastive")


def as_tensor(value) -> torch.Tensor:
    """A numpy array (official .npz) or a tensor (safetensors) as a tensor, without a copy."""
    return value if isinstance(value, torch.Tensor) else torch.from_numpy(np.asarray(value))


def count_blocks(keys, pattern: str) -> int:
    indices = {int(m.group(1)) for k in keys if (m := re.match(pattern, k))}
    return max(indices) + 1 if indices else 0


def _resolve_heads(width: int, num_heads: int | None, presets: dict, field: str, path: str, arg: str) -> int:
    """The tower's head count: the official preset's for its width, or `num_heads` for a width no preset has.

    A head count cannot be read from the weights (any divisor of the width loads), and a wrong one gives wrong
    outputs without any error, so a given count that contradicts the official preset of that width is refused.
    """
    found = heads_for_width(presets, width, field)
    if num_heads is not None:
        check_head_count(arg, num_heads)
        if width % num_heads:
            raise TipsCheckpointError(f"{path}: width {width} is not divisible by {arg}={num_heads}; give a head count that divides it")
        if found is not None and found[1] != num_heads:
            raise TipsCheckpointError(
                f"{path}: {arg}={num_heads} contradicts the official TIPS {found[0]} preset of width {width}, which has "
                f"{found[1]} heads; drop {arg} (the preset is used) or give {found[1]}"
            )
        return num_heads
    if found is None:
        widths = ", ".join(f"{n}={getattr(p, field)}" for n, p in presets.items())
        raise TipsCheckpointError(
            f"{path}: a tower {width} wide fits no official TIPS preset ({widths}); "
            f"pass {arg}=<number of attention heads> to load it"
        )
    return found[1]


def vision_config_from_arrays(arrays: Mapping[str, np.ndarray], path: str, num_heads: int | None = None) -> VisionConfig:
    """Tower sizes read from the official vision file's shapes; heads from the presets unless given."""
    embed_dim = int(arrays["cls_token"].shape[-1])
    depth = count_blocks(arrays, r"blocks\.(\d+)\.")
    if "blocks.0.mlp.w12.weight" in arrays:
        ffn_layer, mlp_hidden = "swiglu", int(arrays["blocks.0.mlp.w12.weight"].shape[0]) // 2
    else:
        ffn_layer, mlp_hidden = "mlp", int(arrays["blocks.0.mlp.fc1.weight"].shape[0])
    n_pos = int(arrays["pos_embed"].shape[1]) - 1  # minus the CLS position
    grid = int(round(n_pos**0.5))
    if grid * grid != n_pos:
        raise TipsCheckpointError(f"{path}: pos_embed holds {n_pos} patch positions, not a square grid; is this an official TIPS vision file?")
    patch = tuple(arrays["patch_embed.proj.weight"].shape[-2:])
    if patch != (PATCH_SIZE, PATCH_SIZE):
        raise TipsCheckpointError(f"{path}: patch size {patch}, expected 14x14 (TIPS is a ViT/14)")
    heads = _resolve_heads(embed_dim, num_heads, VISION_PRESETS, "embed_dim", path, "vision_num_heads")
    return VisionConfig(embed_dim=embed_dim, depth=depth, num_heads=heads, mlp_hidden=mlp_hidden, ffn_layer=ffn_layer, pos_grid=grid)


def convert_vision_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Official DINOv2-style keys -> timm VisionTransformer keys.

    - The official model adds pos_embed[0] to the CLS token; timm (no_embed_class) has no CLS
      position, so it is folded into the token.
    - `register_tokens` -> `reg_token`; SwiGLU `mlp.w12`/`mlp.w3` -> timm's packed `mlp.fc1`/`mlp.fc2`
      (same [x1 | x2] layout, silu(x1) * x2); `mask_token` (training only) is dropped.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in arrays.items():
        tensor = as_tensor(value)
        if key == "mask_token":
            continue
        if key == "cls_token":
            out["cls_token"] = tensor + as_tensor(arrays["pos_embed"])[:, :1]
        elif key == "pos_embed":
            out["pos_embed"] = tensor[:, 1:]
        elif key == "register_tokens":
            out["reg_token"] = tensor
        else:
            out[key.replace(".mlp.w12.", ".mlp.fc1.").replace(".mlp.w3.", ".mlp.fc2.")] = tensor
    return out


def text_config_from_arrays(arrays: Mapping[str, np.ndarray], path: str, num_heads: int | None = None) -> TextConfig:
    """Text tower sizes read from the official text file's shapes; heads from the presets unless given."""
    vocab_size, width = (int(s) for s in arrays["token_embedding.weight"].shape)
    num_layers = count_blocks(arrays, r"transformer\.resblocks\.(\d+)\.")
    mlp_dim = int(arrays["transformer.resblocks.0.mlp.c_fc.weight"].shape[0])
    heads = _resolve_heads(width, num_heads, TEXT_PRESETS, "width", path, "text_num_heads")
    return TextConfig(width=width, num_layers=num_layers, num_heads=heads, mlp_dim=mlp_dim, vocab_size=vocab_size)


def split_text_arrays(arrays: Mapping[str, np.ndarray], path: str) -> tuple[dict[str, torch.Tensor], float, str]:
    """Text file -> (text tower state dict, temperature, the key the temperature was stored under).

    v1 files store `temperature`; v2 files may store `temperature_contrastive`.
    """
    present = [k for k in TEMPERATURE_KEYS if k in arrays]
    if not present:
        raise TipsCheckpointError(f"{path}: no temperature found (looked for keys {', '.join(TEMPERATURE_KEYS)}); is this an official TIPS text file?")
    key = present[0]
    temperature = float(np.asarray(arrays[key]).reshape(()))
    weights = {k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items() if k not in TEMPERATURE_KEYS}
    return weights, temperature, key
