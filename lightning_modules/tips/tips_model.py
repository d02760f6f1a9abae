"""A frozen TIPS model: image tower, text tower, tokenizer and softmax temperature."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .checkpoint_conversion import (
    convert_vision_arrays,
    split_text_arrays,
    text_config_from_arrays,
    vision_config_from_arrays,
)
from .checkpoint_files import TipsFiles, check_keys, official_files, read_npz
from .errors import TipsCheckpointError
from .text_tower import TipsTextTower
from .tokenizer import TipsTokenizer
from .vision_tower import PATCH_SIZE, TipsVisionTower


class TipsModel(nn.Module):
    """Frozen TIPS: no parameter takes gradients and the towers stay in eval mode."""

    def __init__(
        self,
        vision: TipsVisionTower,
        text: TipsTextTower,
        tokenizer: TipsTokenizer,
        temperature: float,
        temperature_key: str = "temperature",
        files: TipsFiles | None = None,
    ):
        super().__init__()
        self.vision = vision
        self.text = text
        self.tokenizer = tokenizer
        self.temperature = temperature
        self.temperature_key = temperature_key  # which key of the text file held it (v1 vs v2)
        self.files = files
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "TipsModel":
        # A frozen backbone never switches to training behaviour, even inside a training loop.
        return super().train(False)

    @property
    def text_width(self) -> int:
        return self.text.width

    @property
    def embed_dim(self) -> int:
        return self.vision.config.embed_dim

    def encode_image(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """images: float [B, 3, H, W] in [0, 1], H and W multiples of 14.

        Returns (first, second, patches): [B, D], [B, D], [B, H*W/196, D], not L2-normalised.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise TipsCheckpointError(f"images must be [B, 3, H, W], got shape {tuple(images.shape)}")
        height, width = images.shape[-2:]
        if height % PATCH_SIZE or width % PATCH_SIZE:
            fit = lambda n: max(PATCH_SIZE, round(n / PATCH_SIZE) * PATCH_SIZE)  # noqa: E731
            raise TipsCheckpointError(
                f"image size {height}x{width} is not a multiple of the patch size 14; "
                f"resize to e.g. {fit(height)}x{fit(width)} (224, 448 and 518 are common)"
            )
        return self.vision(images.to(self.vision.cls_token.dtype))

    def encode_text(self, sentences: list[str] | str) -> torch.Tensor:
        """Sentences -> [B, D] text embeddings, not L2-normalised."""
        ids, paddings = self.tokenizer(sentences)
        device = self.text.token_embedding.weight.device
        return self.text(ids.to(device), paddings.to(device))


def _load_state(module: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    check_keys(path, set(module.state_dict().keys()), set(state.keys()))
    try:
        module.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as error:
        raise TipsCheckpointError(f"{path}: weights do not fit the tower their shapes describe ({error}); re-download the official file") from None


def load_tips(
    vision_checkpoint: str | Path | None = None,
    text_checkpoint: str | Path | None = None,
    tokenizer: str | Path | None = None,
    vision_num_heads: int | None = None,
    text_num_heads: int | None = None,
    name: str | None = None,
    checkpoint_dir: str | Path | None = None,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> TipsModel:
    """Load a frozen TIPS model from explicit paths, or from an official name and download folder.

    Tower sizes come from the tensor shapes; head counts from the official presets unless given.
    """
    if name is not None:
        if checkpoint_dir is None:
            raise TipsCheckpointError(f"name={name!r} needs checkpoint_dir, the folder holding the official TIPS downloads")
        files = official_files(name, checkpoint_dir)
    else:
        if None in (vision_checkpoint, text_checkpoint, tokenizer):
            raise TipsCheckpointError(
                "give either name + checkpoint_dir, or all of vision_checkpoint, text_checkpoint and tokenizer"
            )
        files = TipsFiles(Path(vision_checkpoint).expanduser(), Path(text_checkpoint).expanduser(), Path(tokenizer).expanduser())

    tips_tokenizer = TipsTokenizer(files.tokenizer)

    vision_arrays = read_npz(files.vision, "vision")
    vision_config = vision_config_from_arrays(vision_arrays, str(files.vision), vision_num_heads)
    with torch.device("meta"):  # no random init of weights that are loaded right after
        vision = TipsVisionTower(vision_config)
    _load_state(vision, convert_vision_arrays(vision_arrays), files.vision)
    del vision_arrays

    text_arrays = read_npz(files.text, "text")
    text_config = text_config_from_arrays(text_arrays, str(files.text), text_num_heads)
    text_state, temperature, temperature_key = split_text_arrays(text_arrays, str(files.text))
    del text_arrays
    if tips_tokenizer.vocab_size > text_config.vocab_size:
        raise TipsCheckpointError(
            f"{files.tokenizer} has {tips_tokenizer.vocab_size} pieces but {files.text} embeds only "
            f"{text_config.vocab_size}; use the tokenizer released with this checkpoint"
        )
    with torch.device("meta"):
        text = TipsTextTower(text_config)
    _load_state(text, text_state, files.text)

    model = TipsModel(vision, text, tips_tokenizer, temperature, temperature_key, files)
    return model.to(device=device, dtype=dtype)
