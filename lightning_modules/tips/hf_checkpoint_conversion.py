"""Hugging Face `model.safetensors` tensors -> this project's TIPS towers: one pure key converter and the tower
sizes, from the tensors' shapes and the folder's `config.json` settings (see `hf_config.py`). No file handling.

transformers writes a Tipsv2 checkpoint in the original TIPS key layout under two prefixes (its own module names
exist only in memory): `vision_encoder.<official vision key>` with the MLP FFN named `mlp.c_fc` / `mlp.c_proj`
(the official `.npz` says `mlp.fc1` / `mlp.fc2`), `text_encoder.<official text key>`, and a top-level
`temperature`. So the conversion is a rename into the official keys followed by the official conversion.
"""

from __future__ import annotations

from typing import Mapping

import torch

from .checkpoint_conversion import as_tensor, convert_vision_arrays, count_blocks
from .errors import TipsCheckpointError
from .hf_config import HfTextSettings, HfVisionSettings
from .text_tower import TextConfig
from .vision_tower import VisionConfig

VISION_PREFIX = "vision_encoder."
TEXT_PREFIX = "text_encoder."
TEMPERATURE_KEY = "temperature"
# the FFN of an MLP block: transformers' serialised names -> the official .npz names
_VISION_RENAMES = ((".mlp.c_fc.", ".mlp.fc1."), (".mlp.c_proj.", ".mlp.fc2."))


def split_hf_state(state: Mapping[str, torch.Tensor]) -> tuple[dict, dict, torch.Tensor | None, list[str]]:
    """(vision tensors under official keys, text tensors under official keys, temperature or None, other keys)."""
    vision, text, other = {}, {}, []
    temperature = None
    for key, value in state.items():
        if key.startswith(VISION_PREFIX):
            official = key.removeprefix(VISION_PREFIX)
            for hf_name, official_name in _VISION_RENAMES:
                official = official.replace(hf_name, official_name)
            vision[official] = value
        elif key.startswith(TEXT_PREFIX):
            text[key.removeprefix(TEXT_PREFIX)] = value
        elif key == TEMPERATURE_KEY:
            temperature = value
        else:
            other.append(key)
    return vision, text, temperature, other


def convert_hf_state(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor | None]:
    """`model.safetensors` tensors -> (image tower state, text tower state, temperature or None).

    The image tower's state is in this project's (timm) keys, the text tower's in the official ones, which are its
    own. Keys of neither tower are kept in the image state under their own names, so the tower's key check lists them.
    """
    vision, text, temperature, other = split_hf_state(state)
    converted = convert_vision_arrays(vision) if vision else {}
    converted.update({key: as_tensor(state[key]) for key in other})
    return converted, {key: as_tensor(value) for key, value in text.items()}, temperature


def _shape(state: Mapping, key: str, path: str, tower: str) -> tuple[int, ...]:
    if key not in state:
        raise TipsCheckpointError(f"{path}: no {tower} tensor {key!r}; the file does not hold a transformers Tipsv2 {tower} tower. Re-download the model folder")
    return tuple(state[key].shape)


def _agree(path: str, tower: str, sizes: dict[str, tuple[int, int]]) -> None:
    """Each (size in the weights, size config.json states) pair is equal, or one error naming both."""
    for key, (held, stated) in sizes.items():
        if held != stated:
            raise TipsCheckpointError(
                f"{path}: the {tower} tower's weights have {key} {held} but config.json's {tower}_config says {stated}; "
                f"the config does not belong to these weights. Re-download the model folder"
            )


def vision_config_from_hf(vision: Mapping[str, torch.Tensor], settings: HfVisionSettings, path: str) -> VisionConfig:
    """Image tower sizes from the (official-key) tensors' shapes, the rest from config.json; the two must agree."""
    embed_dim = _shape(vision, "cls_token", path, "vision")[-1]
    patch = _shape(vision, "patch_embed.proj.weight", path, "vision")[-2:]
    if patch != (settings.patch_size, settings.patch_size):
        raise TipsCheckpointError(f"{path}: patch embedding is {patch[0]}x{patch[1]} but config.json says patch_size {settings.patch_size}; the config does not belong to these weights")
    swiglu = "blocks.0.mlp.w12.weight" in vision
    if swiglu != settings.use_swiglu_ffn:
        held, said = ("a SwiGLU", "an MLP") if swiglu else ("an MLP", "a SwiGLU")
        raise TipsCheckpointError(f"{path}: the weights hold {held} FFN but config.json says use_swiglu_ffn={settings.use_swiglu_ffn} ({said}); the config does not belong to these weights")
    mlp_hidden = _shape(vision, "blocks.0.mlp.w12.weight", path, "vision")[0] // 2 if swiglu else _shape(vision, "blocks.0.mlp.fc1.weight", path, "vision")[0]
    n_pos = _shape(vision, "pos_embed", path, "vision")[1] - 1
    grid = int(round(n_pos**0.5))
    if grid * grid != n_pos or grid != settings.image_size // settings.patch_size:
        raise TipsCheckpointError(
            f"{path}: pos_embed holds {n_pos} patch positions but config.json's image_size {settings.image_size} / patch_size "
            f"{settings.patch_size} needs a {settings.image_size // settings.patch_size}^2 grid; the config does not belong to these weights"
        )
    registers = _shape(vision, "register_tokens", path, "vision")[1]
    if registers != settings.num_register_tokens:
        raise TipsCheckpointError(f"{path}: {registers} register tokens in the weights, config.json says num_register_tokens {settings.num_register_tokens}")
    depth = count_blocks(vision, r"blocks\.(\d+)\.")
    _agree(path, "vision", {"hidden_size": (embed_dim, settings.hidden_size), "num_hidden_layers": (depth, settings.num_layers)})
    if embed_dim % settings.num_heads:
        raise TipsCheckpointError(f"{path}: width {embed_dim} is not divisible by config.json's vision num_attention_heads {settings.num_heads}")
    return VisionConfig(
        embed_dim=embed_dim,
        depth=depth,
        num_heads=settings.num_heads,
        mlp_hidden=mlp_hidden,
        ffn_layer="swiglu" if swiglu else "mlp",
        pos_grid=grid,
        patch_size=settings.patch_size,
        num_register_tokens=settings.num_register_tokens,
        layer_norm_eps=settings.layer_norm_eps,
        qkv_bias=settings.qkv_bias,
    )


def text_config_from_hf(text: Mapping[str, torch.Tensor], settings: HfTextSettings, path: str) -> TextConfig:
    vocab_size, width = _shape(text, "token_embedding.weight", path, "text")
    num_layers = count_blocks(text, r"transformer\.resblocks\.(\d+)\.")
    mlp_dim = _shape(text, "transformer.resblocks.0.mlp.c_fc.weight", path, "text")[0]
    _agree(path, "text", {
        "hidden_size": (width, settings.hidden_size), "num_hidden_layers": (num_layers, settings.num_layers),
        "intermediate_size": (mlp_dim, settings.intermediate_size),
    })
    if width % settings.num_heads:
        raise TipsCheckpointError(f"{path}: text width {width} is not divisible by config.json's text num_attention_heads {settings.num_heads}")
    return TextConfig(
        width=width,
        num_layers=num_layers,
        num_heads=settings.num_heads,
        mlp_dim=mlp_dim,
        vocab_size=vocab_size,
        layer_norm_eps=settings.layer_norm_eps,
        pooling_epsilon=settings.pooling_epsilon,
        scale_sqrt_depth=settings.scale_sqrt_depth,
    )
