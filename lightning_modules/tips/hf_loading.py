"""Load a frozen TIPS model from a Hugging Face folder (or a hub id resolved to one): config.json, model.safetensors,
tokenizer.model. Every file, setting and shape is checked before a tower is built."""

from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint_files import TipsFiles
from .errors import TipsCheckpointError
from .hf_checkpoint_conversion import convert_hf_state, split_hf_state, text_config_from_hf, vision_config_from_hf
from .hf_config import read_hf_folder, read_safetensors
from .text_tower import TipsTextTower
from .tips_model import TipsModel, load_tower_state
from .tokenizer import TipsTokenizer
from .vision_tower import TipsVisionTower


def _snapshot(folder: Path) -> tuple[str | None, str | None]:
    """(hub id, commit) of a hub cache snapshot (`models--<owner>--<name>/snapshots/<commit>`), else (None, None)."""
    repo = folder.resolve().parent.parent.name
    if folder.resolve().parent.name != "snapshots" or not repo.startswith("models--") or repo.count("--") != 2:
        return None, None
    return repo.removeprefix("models--").replace("--", "/"), folder.resolve().name


def load_hf_tips(
    folder: str | Path,
    hub_id: str | None = None,
    vision_num_heads: int | None = None,
    text_num_heads: int | None = None,
) -> TipsModel:
    """A TIPS model from a transformers-layout folder, in the file's dtype on the CPU (the caller moves and casts).

    Head counts come from config.json; a given count must equal it.
    """
    hf = read_hf_folder(folder)
    for argument, given, stated in (("vision_num_heads", vision_num_heads, hf.vision.num_heads), ("text_num_heads", text_num_heads, hf.text.num_heads)):
        if given is not None and given != stated:
            raise TipsCheckpointError(f"{argument}={given} contradicts {hf.config}, which says {stated} heads; drop {argument} (config.json is read)")
    tokenizer = TipsTokenizer(hf.tokenizer, max_len=hf.text.max_length)
    state = read_safetensors(hf.weights)
    vision_official, text_official, _, _ = split_hf_state(state)
    where = str(hf.weights)
    vision_config = vision_config_from_hf(vision_official, hf.vision, where)
    text_config = text_config_from_hf(text_official, hf.text, where)
    if vision_config.embed_dim != text_config.width:
        raise TipsCheckpointError(f"{where}: image tower {vision_config.embed_dim} wide but text tower {text_config.width} wide; a TIPS model's towers share a width")
    if tokenizer.vocab_size > text_config.vocab_size:
        raise TipsCheckpointError(f"{hf.tokenizer} has {tokenizer.vocab_size} pieces but {where} embeds only {text_config.vocab_size}; use the tokenizer of this model folder")
    vision_state, text_state, temperature = convert_hf_state(state)
    del state, vision_official, text_official
    # published checkpoints may leave the temperature out; transformers then uses the config's initial value
    temperature_value = float(temperature.reshape(())) if temperature is not None else hf.config_temperature
    temperature_key = "temperature" if temperature is not None else "config.json:temperature_init_value"

    with torch.device("meta"):
        vision = TipsVisionTower(vision_config)
    load_tower_state(vision, vision_state, hf.weights)
    with torch.device("meta"):
        text = TipsTextTower(text_config)
    load_tower_state(text, text_state, hf.weights)
    cached_id, revision = _snapshot(hf.folder)
    files = TipsFiles(
        hf.weights, hf.weights, hf.tokenizer, config=hf.config, hub_id=hub_id,
        revision=revision, label=hub_id or cached_id or hf.folder.name,
    )
    return TipsModel(vision, text, tokenizer, temperature_value, temperature_key, files)
