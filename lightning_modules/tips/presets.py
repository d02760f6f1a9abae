"""Sizes of the official TIPS towers and the names of the official checkpoint files.

Sizes are read from the checkpoints' tensor shapes; the one thing a shape cannot tell is the
number of attention heads, which these tables supply by tower width.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import TipsCheckpointError


@dataclass(frozen=True)
class VisionPreset:
    embed_dim: int
    depth: int
    num_heads: int
    mlp_hidden: int
    ffn_layer: str  # "mlp" or "swiglu"


@dataclass(frozen=True)
class TextPreset:
    width: int
    mlp_dim: int
    num_heads: int
    num_layers: int


def swiglu_hidden(embed_dim: int, mlp_ratio: float = 4.0) -> int:
    """DINOv2's SwiGLU hidden size: two thirds of the MLP size, rounded up to a multiple of 8."""
    return (int(embed_dim * mlp_ratio * 2 / 3) + 7) // 8 * 8


VISION_PRESETS: dict[str, VisionPreset] = {
    "S": VisionPreset(embed_dim=384, depth=12, num_heads=6, mlp_hidden=1536, ffn_layer="mlp"),
    "B": VisionPreset(embed_dim=768, depth=12, num_heads=12, mlp_hidden=3072, ffn_layer="mlp"),
    "L": VisionPreset(embed_dim=1024, depth=24, num_heads=16, mlp_hidden=4096, ffn_layer="mlp"),
    "So400m": VisionPreset(embed_dim=1152, depth=27, num_heads=16, mlp_hidden=4304, ffn_layer="mlp"),
    "g": VisionPreset(embed_dim=1536, depth=40, num_heads=24, mlp_hidden=swiglu_hidden(1536), ffn_layer="swiglu"),
}

TEXT_PRESETS: dict[str, TextPreset] = {
    "S": TextPreset(width=384, mlp_dim=1536, num_heads=6, num_layers=12),
    "B": TextPreset(width=768, mlp_dim=3072, num_heads=12, num_layers=12),
    "L": TextPreset(width=1024, mlp_dim=4096, num_heads=16, num_layers=12),
    "So400m": TextPreset(width=1152, mlp_dim=4304, num_heads=16, num_layers=27),
    "g": TextPreset(width=1536, mlp_dim=6144, num_heads=24, num_layers=12),
}

# Short name -> official file stem (`<stem>_vision.npz`, `<stem>_text.npz`), as published by the
# official TIPS repository's `pytorch/checkpoints/download_checkpoints.sh`.
OFFICIAL_CHECKPOINTS: dict[str, str] = {
    "tips-v1-s14-hr": "tips_oss_s14_highres_distilled",
    "tips-v1-b14-hr": "tips_oss_b14_highres_distilled",
    "tips-v1-l14-hr": "tips_oss_l14_highres_distilled",
    "tips-v1-so400m14-hr": "tips_oss_so400m14_highres_largetext_distilled",
    "tips-v1-g14-lr": "tips_oss_g14_lowres",
    "tips-v1-g14-hr": "tips_oss_g14_highres",
    "tips-v2-b14": "tips_v2_oss_b14",
    "tips-v2-l14": "tips_v2_oss_l14",
    "tips-v2-so400m14": "tips_v2_oss_so14",
    "tips-v2-g14": "tips_v2_oss_g14",
}

TOKENIZER_FILE = "tokenizer.model"


def official_stem(name: str) -> str:
    """Official file stem for a short name (`tips-v2-l14`) or an official name itself."""
    if name in OFFICIAL_CHECKPOINTS:
        return OFFICIAL_CHECKPOINTS[name]
    if name in OFFICIAL_CHECKPOINTS.values():
        return name
    known = ", ".join(f"{short} ({stem})" for short, stem in OFFICIAL_CHECKPOINTS.items())
    raise ValueError(f"unknown TIPS checkpoint name {name!r}; expected one of: {known}")


def heads_for_width(presets: dict, width: int, width_field: str) -> tuple[str, int] | None:
    """(preset name, head count) of the preset with this width, or None."""
    for preset_name, preset in presets.items():
        if getattr(preset, width_field) == width:
            return preset_name, preset.num_heads
    return None


def check_head_count(argument: str, value: object) -> None:
    """A given head count (`vision_num_heads` / `text_num_heads`) must be a positive integer; None means the preset."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise TipsCheckpointError(
            f"{argument}={value!r}: expected a positive integer, or None to use the official preset of the width"
        )
