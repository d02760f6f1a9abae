"""Images and masks already decoded and resized to the model size, on disk: what a GPU's data loaders read.

Decoding and resizing a 1024 px PNG costs 50-80 ms of a CPU core; an H200 scoring several hundred
images per second would need tens of cores for it. After the first epoch or run, each item is read
back from here instead (a few hundred per second per core). Exact: the reference resize yields
8-bit values, stored as uint8 and divided by 255 again on reading, equal bit for bit to a fresh
decode; other images (16-bit sources) are stored as float32.

The key holds everything the resized tensors depend on: the image and mask files (path, size,
modification time), the size, the resize mode and the mask threshold. A changed file is another key.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional

import torch

from datamodules.fingerprint import file_identity


class ResizedImageCache:
    """One `.pt` file per (image, mask, size, resize mode, mask threshold) under `directory`."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(f"image_cache_dir '{self.directory}' is a file; expected a folder; pass another path")

    def key(self, image_path: str, mask_path: Optional[str], size: int, mode: str, mask_threshold: int) -> str:
        mask = file_identity(mask_path) if mask_path is not None else "none"
        text = f"{file_identity(image_path)}|{mask}|{size}|{mode}|{mask_threshold}"
        return hashlib.sha256(text.encode()).hexdigest()

    def load(self, key: str) -> Optional[tuple[torch.Tensor, torch.Tensor]]:
        """(image float32 [3, S, S] in [0, 1], mask float32 [S, S] of {0, 1}), or None when not cached."""
        path = self.directory / key[:2] / f"{key}.pt"
        if not path.is_file():
            return None
        saved = torch.load(path, weights_only=True)
        image = saved["image"]
        image = image.float() / 255 if image.dtype == torch.uint8 else image
        return image, saved["mask"].float()

    def save(self, key: str, image: torch.Tensor, mask: torch.Tensor) -> None:
        as_bytes = (image * 255).round().to(torch.uint8)
        exact = torch.equal(as_bytes.float() / 255, image)
        path = self.directory / key[:2] / f"{key}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save({"image": as_bytes if exact else image.clone(), "mask": mask.to(torch.bool)}, partial)
        os.replace(partial, path)  # readers (other workers, other runs) never see a half-written file
