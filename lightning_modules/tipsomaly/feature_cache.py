"""Frozen-feature cache: the backbone's outputs for a training image, computed once and reused.

The backbone is frozen, so an input tensor's features are the same in every epoch. The key is
what the features depend on and nothing else:
- the input tensor itself, by a content fingerprint (`datamodules.fingerprint.image_fingerprint`,
  computed in the data-loading workers): another resize mode, size, flip or any transform changes the bytes and
  so the key; a randomly augmented image simply never hits;
- the backbone (`backbones.protocol.identity_key`: its kind and the content fingerprint of its files);
- the compute precision: the weights' dtype and the autocast state (bf16 features served to a
  float32 run would be off by ~4e-3, about 0.4 in logit at temperature 0.01).

Memory mode holds at most `max_memory_mb` (entries beyond it are computed, not stored: with a
fixed epoch order an evicting cache would thrash); disk mode writes one file per entry, shared
by every run that uses the same folder (a sweep computes each image's features once). The disk cache never
stops a run: a damaged entry is named, removed and recomputed; a failed write (a full disk) turns caching off
for the rest of the run with one warning.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor

from datamodules.atomic_files import atomic_path

CACHE_MODES = ("off", "memory", "disk")
DEFAULT_MAX_MEMORY_MB = 4096

Features = tuple[Tensor, Tensor, Tensor]


def compute_precision(device_type: str, weight_dtype: torch.dtype) -> str:
    """How the backbone computes right now: its weight dtype and the autocast state for this device type."""
    if torch.is_autocast_enabled(device_type):
        return f"{weight_dtype}|autocast-{torch.get_autocast_dtype(device_type)}"
    return f"{weight_dtype}|no-autocast"


class FeatureCache:
    """Backbone outputs (first [D], second [D], patches [N, D]) per input tensor, in memory or on disk.

    `backbone_key` identifies the backbone (`backbones.protocol.identity_key`); entries are kept on the CPU
    in the backbone's output dtype, so a cached feature equals a recomputed one bit for bit.
    """

    def __init__(
        self,
        mode: str = "memory",
        directory: str | os.PathLike | None = None,
        backbone_key: str = "",
        max_memory_mb: float = DEFAULT_MAX_MEMORY_MB,
    ):
        if mode not in CACHE_MODES:
            raise ValueError(f"feature cache mode must be one of {', '.join(CACHE_MODES)}, got {mode!r}")
        if mode == "disk" and directory is None:
            raise ValueError("feature cache mode 'disk' needs a directory (feature_cache_dir)")
        if not max_memory_mb > 0:
            raise ValueError(f"feature cache max_memory_mb must be > 0, got {max_memory_mb}")
        if mode == "disk" and Path(directory).exists() and not Path(directory).is_dir():
            raise ValueError(f"feature_cache_dir '{directory}' is a file, expected a folder for the cache entries; "
                             "remove the file or give another feature_cache_dir")
        self.mode = mode
        self.directory = Path(directory) if directory is not None else None
        self.backbone_key = backbone_key
        self.max_bytes = int(max_memory_mb * 2**20)
        self._memory: dict[str, Features] = {}
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.not_stored = 0
        self.write_failed = False  # a failed disk write (a full disk) stops caching, never the run

    def key(self, fingerprint: str, precision: str) -> str:
        return hashlib.sha256(f"{self.backbone_key}|{precision}|{fingerprint}".encode()).hexdigest()

    def get(self, key: str) -> Features | None:
        if self.mode == "memory":
            return self._memory.get(key)
        if self.mode == "disk":
            path = self.directory / f"{key}.pt"
            if path.is_file():
                try:
                    saved = torch.load(path, weights_only=True)
                    return saved["first"], saved["second"], saved["patches"]
                except Exception as error:  # a truncated or foreign file: recompute, never serve it
                    warnings.warn(
                        f"feature cache entry {path} is damaged ({type(error).__name__}: {' '.join(str(error).split())[:120]}); "
                        f"it is removed and recomputed. To clear the whole cache, delete {self.directory}", stacklevel=2)
                    path.unlink(missing_ok=True)
        return None

    def put(self, key: str, features: Features) -> None:
        features = tuple(f.detach().cpu().clone() for f in features)
        if self.mode == "memory":
            size = sum(f.numel() * f.element_size() for f in features)
            if self.bytes + size > self.max_bytes:
                self.not_stored += 1
                return
            self._memory[key] = features
            self.bytes += size
        elif self.mode == "disk" and not self.write_failed:
            try:
                with atomic_path(self.directory / f"{key}.pt") as partial:  # readers never see a half-written file
                    torch.save(dict(zip(("first", "second", "patches"), features)), partial)
            except OSError as error:
                self.write_failed = True
                warnings.warn(f"feature cache: writing to {self.directory} failed ({error}); caching is off for the rest "
                              "of this run, which goes on computing every feature", stacklevel=2)

    def lookup(self, fingerprints: list[str], precision: str, device: torch.device, compute) -> Features:
        """Batched features for these inputs: cached rows where present, `compute(missing_indices)` for the rest.

        compute: indices -> (first [M, D], second [M, D], patches [M, N, D]) for those rows.
        """
        if self.mode == "off":
            return compute(list(range(len(fingerprints))))
        keys = [self.key(f, precision) for f in fingerprints]
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
        return tuple(torch.stack([f[part].to(device, non_blocking=True) for f in found]) for part in range(3))

    def clear(self) -> None:
        """Free the memory entries (disk entries stay for later runs)."""
        self._memory.clear()
        self.bytes = 0

    def describe(self) -> str:
        """One line: what the cache holds and how well it served."""
        total = self.hits + self.misses
        rate = f"{100 * self.hits / total:.0f}%" if total else "-"
        held = f"{len(self._memory)} images, {self.bytes / 2**20:.0f} of {self.max_bytes / 2**20:.0f} MiB" if self.mode == "memory" else str(self.directory)
        skipped = f", {self.not_stored} not stored (memory bound)" if self.not_stored else ""
        skipped += ", writes stopped after a failed write" if self.write_failed else ""
        return f"feature cache ({self.mode}): {held}; {self.hits} hits / {total} lookups ({rate}){skipped}"
