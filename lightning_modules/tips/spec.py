"""Which TIPS checkpoint to load, as plain values a config file or command line can hold."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .tips_model import TipsModel, load_tips


@dataclass
class TipsSpec:
    """Either `name` + `checkpoint_dir` (an official checkpoint, e.g. `tips-v2-l14`), or explicit paths."""

    vision_checkpoint: str | None = None
    text_checkpoint: str | None = None
    tokenizer: str | None = None
    vision_num_heads: int | None = None
    text_num_heads: int | None = None
    name: str | None = None
    checkpoint_dir: str | None = None

    def load(self, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> TipsModel:
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
        )

    @property
    def label(self) -> str:
        """A short, stable name for caches and logs."""
        if self.name:
            return self.name
        return str(self.vision_checkpoint).rsplit("/", 1)[-1].removesuffix("_vision.npz")
