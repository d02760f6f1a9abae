"""Frozen-feature cache: the backbone's outputs for a training image, computed once and reused.

The backbone is frozen and training uses no augmentation, so an image's visual features are
the same in every epoch. Keys hold everything the features depend on: the backbone checkpoint
file (path, size, modification time), the dtype, the input size and the image file (path, size,
modification time); a changed file gives a new key, so a stale entry is never served.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import Tensor

CACHE_MODES = ("off", "memory", "disk")


def file_identity(path: str | os.PathLike) -> str:
    stat = os.stat(path)
    return f"{os.path.abspath(path)}:{stat.st_size}:{stat.st_mtime_ns}"


class FeatureCache:
    """Backbone outputs (first [D], second [D], patches [N, D]) per image, in memory or on disk.

    `backbone_key` identifies the backbone (see `file_identity`); entries are kept on the CPU
    in the backbone's dtype, so a cached feature equals a recomputed one bit for bit.
    """

    def __init__(self, mode: str = "memory", directory: str | os.PathLike | None = None, backbone_key: str = ""):
        if mode not in CACHE_MODES:
            raise ValueError(f"feature cache mode must be one of {', '.join(CACHE_MODES)}, got {mode!r}")
        if mode == "disk" and directory is None:
            raise ValueError("feature cache mode 'disk' needs a directory (feature_cache_dir)")
        self.mode = mode
        self.directory = Path(directory) if directory is not None else None
        self.backbone_key = backbone_key
        self._memory: dict[str, tuple[Tensor, Tensor, Tensor]] = {}
        self.hits = 0
        self.misses = 0

    def key(self, image_path: str, image_size: tuple[int, int], dtype: torch.dtype) -> str:
        text = f"{self.backbone_key}|{dtype}|{image_size[0]}x{image_size[1]}|{file_identity(image_path)}"
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, key: str) -> tuple[Tensor, Tensor, Tensor] | None:
        if self.mode == "memory":
            return self._memory.get(key)
        if self.mode == "disk":
            path = self.directory / f"{key}.pt"
            if path.is_file():
                saved = torch.load(path, weights_only=True)
                return saved["first"], saved["second"], saved["patches"]
        return None

    def put(self, key: str, features: tuple[Tensor, Tensor, Tensor]) -> None:
        features = tuple(f.detach().cpu().clone() for f in features)
        if self.mode == "memory":
            self._memory[key] = features
        elif self.mode == "disk":
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{key}.pt"
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            torch.save(dict(zip(("first", "second", "patches"), features)), partial)
            os.replace(partial, path)  # readers never see a half-written file

    def lookup(
        self, image_paths: list[str], image_size: tuple[int, int], dtype: torch.dtype, device: torch.device, compute
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Batched features for these images: cached rows where present, `compute(missing_indices)` for the rest.

        compute: indices -> (first [M, D], second [M, D], patches [M, N, D]) for those rows.
        """
        if self.mode == "off":
            return compute(list(range(len(image_paths))))
        keys = [self.key(p, image_size, dtype) for p in image_paths]
        found = [self.get(k) for k in keys]
        missing = [i for i, f in enumerate(found) if f is None]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            computed = compute(missing)
            for row, index in enumerate(missing):
                entry = tuple(part[row] for part in computed)
                self.put(keys[index], entry)
                found[index] = entry
        return tuple(torch.stack([f[part].to(device) for f in found]) for part in range(3))
