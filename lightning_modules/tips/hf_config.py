"""A TIPS folder in the Hugging Face transformers layout: `config.json` (model_type `tipsv2`), `model.safetensors`,
`tokenizer.model`, as `Tipsv2Model.save_pretrained` writes it and a `google/tipsv2-*` snapshot holds it.

This module reads and checks the folder's `config.json` into this project's tower configs; the weights' key
conversion is `hf_checkpoint_conversion.py`. transformers itself is never imported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import TipsCheckpointError
from .presets import TOKENIZER_FILE
from .tokenizer import PAD_ID

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TIPS_MODEL_TYPES = ("tipsv2",)
# model types that are real backbones of this project, only not TIPS: the error names the fix
OTHER_BACKBONES = {"siglip": "SigLIP", "siglip2": "SigLIP 2"}
# transformers' Tipsv2Config default, used when neither the weights nor config.json hold a temperature
DEFAULT_TEMPERATURE = 0.005065968260169029


@dataclass(frozen=True)
class HfVisionSettings:
    """What `config.json` says of the image tower; sizes the weights also show are checked against them."""

    hidden_size: int
    num_layers: int
    num_heads: int
    patch_size: int
    image_size: int
    num_register_tokens: int
    use_swiglu_ffn: bool
    layer_norm_eps: float
    qkv_bias: bool


@dataclass(frozen=True)
class HfTextSettings:
    hidden_size: int
    num_layers: int
    intermediate_size: int
    num_heads: int
    max_length: int
    layer_norm_eps: float
    pooling_epsilon: float
    scale_sqrt_depth: bool
    pad_token_id: int


@dataclass(frozen=True)
class HfTipsFolder:
    folder: Path
    config: Path
    weights: Path
    tokenizer: Path
    vision: HfVisionSettings
    text: HfTextSettings
    config_temperature: float


def _get(section: dict, key: str, kinds: type | tuple, where: str, default=None):
    value = section.get(key, default)
    a_bool_for_a_number = isinstance(value, bool) and kinds is not bool  # JSON true is no head count
    if value is None or a_bool_for_a_number or not isinstance(value, kinds):
        raise TipsCheckpointError(f"{where}: '{key}' is {value!r}, expected {getattr(kinds, '__name__', kinds)}; is this a transformers Tipsv2 config.json?")
    return value


def _square(value, key: str, where: str) -> int:
    """`image_size` / `patch_size`: an int or a square [n, n]."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] == value[1]:
        value = value[0]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise TipsCheckpointError(f"{where}: '{key}' is {value!r}; TIPS needs one positive side (square patches and position grid)")
    return value


def read_hf_folder(folder: str | Path) -> HfTipsFolder:
    """Check the folder's three files and read its `config.json`, before any weight is read."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise TipsCheckpointError(f"checkpoint_dir {folder} is not a folder; give the folder of a Hugging Face TIPS model (config.json, model.safetensors, tokenizer.model)")
    config_path, weights, tokenizer = folder / CONFIG_FILE, folder / WEIGHTS_FILE, folder / TOKENIZER_FILE
    if not config_path.is_file():
        hint = (" It holds official .npz files: give name (e.g. name='tips-v2-l14') with this checkpoint_dir"
                if any(folder.glob("*_vision.npz")) else "")
        raise TipsCheckpointError(
            f"{folder} has no {CONFIG_FILE}; a Hugging Face TIPS folder holds {CONFIG_FILE}, {WEIGHTS_FILE} and "
            f"{TOKENIZER_FILE} (download one with `huggingface-cli download google/tipsv2-b14`).{hint}"
        )
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise TipsCheckpointError(f"{config_path} is not valid JSON ({error}); re-download the model folder") from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type in OTHER_BACKBONES:
        raise TipsCheckpointError(
            f"{config_path}: model_type {model_type!r} is a {OTHER_BACKBONES[model_type]} backbone, not TIPS; "
            f"give it as a SigLIP backbone (backbone={{'checkpoint_dir': '{folder}'}} with the SigLIP backbone), not to load_tips/TipsSpec"
        )
    if model_type not in TIPS_MODEL_TYPES:
        raise TipsCheckpointError(
            f"{config_path}: model_type {model_type!r} is not a TIPS model (expected {' or '.join(TIPS_MODEL_TYPES)}); "
            f"give the folder of a google/tipsv2-* model"
        )
    missing = [str(path) for path in (weights, tokenizer) if not path.is_file()]
    if missing:
        raise TipsCheckpointError(
            f"Hugging Face TIPS folder {folder} is incomplete: missing {', '.join(missing)}; download the whole "
            f"snapshot (huggingface-cli download google/tipsv2-b14 --local-dir {folder})"
        )
    where = str(config_path)
    vision, text = config.get("vision_config"), config.get("text_config")
    if not isinstance(vision, dict) or not isinstance(text, dict):
        raise TipsCheckpointError(f"{where}: no vision_config / text_config sections; is this a transformers Tipsv2 config.json?")
    # the FFN activations are fixed in our towers: exact GELU (a SwiGLU FFN always uses SiLU) and ReLU
    acts = [("vision_config", vision, "gelu")] * (not vision.get("use_swiglu_ffn", False)) + [("text_config", text, "relu")]
    for name, section, expected in acts:
        if section.get("hidden_act", expected) != expected:
            raise TipsCheckpointError(f"{where}: {name}.hidden_act is {section.get('hidden_act')!r}, TIPS uses {expected!r}; this config is not a TIPS model")
    # defaults as transformers' Tipsv2 configs have them
    vision_settings = HfVisionSettings(
        hidden_size=_get(vision, "hidden_size", int, where, 768),
        num_layers=_get(vision, "num_hidden_layers", int, where, 12),
        num_heads=_get(vision, "num_attention_heads", int, where, 12),
        patch_size=_square(vision.get("patch_size", 14), "patch_size", where),
        image_size=_square(vision.get("image_size", 448), "image_size", where),
        num_register_tokens=_get(vision, "num_register_tokens", int, where, 1),
        use_swiglu_ffn=_get(vision, "use_swiglu_ffn", bool, where, False),
        layer_norm_eps=float(_get(vision, "layer_norm_eps", (int, float), where, 1e-6)),
        qkv_bias=_get(vision, "qkv_bias", bool, where, True),
    )
    if vision_settings.num_register_tokens < 1:
        raise TipsCheckpointError(f"{where}: num_register_tokens is {vision_settings.num_register_tokens}; TIPS's second global token is the first register token, so at least 1 is needed")
    text_settings = HfTextSettings(
        hidden_size=_get(text, "hidden_size", int, where, 768),
        num_layers=_get(text, "num_hidden_layers", int, where, 12),
        intermediate_size=_get(text, "intermediate_size", int, where, 3072),
        num_heads=_get(text, "num_attention_heads", int, where, 12),
        max_length=_get(text, "max_position_embeddings", int, where, 64),
        layer_norm_eps=float(_get(text, "layer_norm_eps", (int, float), where, 1e-5)),
        pooling_epsilon=float(_get(text, "pooling_epsilon", (int, float), where, 1e-8)),
        scale_sqrt_depth=_get(text, "scale_sqrt_depth", bool, where, True),
        pad_token_id=_get(text, "pad_token_id", int, where, 0),
    )
    if text_settings.pad_token_id != PAD_ID:
        raise TipsCheckpointError(f"{where}: text pad_token_id is {text_settings.pad_token_id}, TIPS pads with id {PAD_ID}; this config is not a TIPS model")
    temperature = float(_get(config, "temperature_init_value", (int, float), where, DEFAULT_TEMPERATURE))
    return HfTipsFolder(folder, config_path, weights, tokenizer, vision_settings, text_settings, temperature)


def read_safetensors(path: Path) -> dict:
    """All tensors of a `model.safetensors` (a format that holds plain tensors only: nothing to unpickle)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise TipsCheckpointError(f"{path} is not a readable safetensors file ({' '.join(str(error).split())[:200]}); re-download the model folder") from None
