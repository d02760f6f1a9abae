"""Which TIPS checkpoint to load, as plain values a config file or command line can hold."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint_files import check_naming
from .presets import check_head_count
from .tips_model import TipsModel, load_tips


@dataclass
class TipsSpec:
    """One of: `name` + `checkpoint_dir` (an official `.npz` checkpoint, e.g. `tips-v2-l14`); the three explicit
    `.npz` paths; `checkpoint_dir` alone (a Hugging Face folder); `name` as a hub id (`google/tipsv2-l14`, with
    an optional `revision`), read from the local Hugging Face cache.

    The ways are exclusive, and head counts must be positive integers; both are checked when the spec is
    made. The files themselves are checked by `load` (see `load_tips`).
    """

    vision_checkpoint: str | None = None
    text_checkpoint: str | None = None
    tokenizer: str | None = None
    vision_num_heads: int | None = None
    text_num_heads: int | None = None
    name: str | None = None
    checkpoint_dir: str | None = None
    revision: str | None = None

    def __post_init__(self) -> None:
        # Checked when the spec is made (a config is parsed), not when the model loads after data set-up.
        check_naming(self.vision_checkpoint, self.text_checkpoint, self.tokenizer, self.name, self.checkpoint_dir)
        check_head_count("vision_num_heads", self.vision_num_heads)
        check_head_count("text_num_heads", self.text_num_heads)

    def load(self, dtype: torch.dtype | str = torch.float32, device: str | torch.device = "cpu") -> TipsModel:
        return load_tips(
            vision_checkpoint=self.vision_checkpoint,
            text_checkpoint=self.text_checkpoint,
            tokenizer=self.tokenizer,
            vision_num_heads=self.vision_num_heads,
            text_num_heads=self.text_num_heads,
            name=self.name,
            checkpoint_dir=self.checkpoint_dir,
            dtype=dtype,
            device=device,
            revision=self.revision,
        )

    @property
    def label(self) -> str:
        """A short, stable name for caches and logs."""
        if self.name:
            return self.name
        if self.vision_checkpoint is None and self.checkpoint_dir is not None:  # a Hugging Face folder
            return Path(self.checkpoint_dir).expanduser().name
        return str(self.vision_checkpoint).rsplit("/", 1)[-1].removesuffix("_vision.npz")
