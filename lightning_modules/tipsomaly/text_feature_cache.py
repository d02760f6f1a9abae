"""Fixed-prompt sentence embeddings on disk, shared by every run: a second test, sweep point, `calibrate`,
`predict` or `Detector` never encodes them again.

A fixed prompt's embedding depends on the backbone's weights, the sentences and how they were computed, and on
nothing else; the key is exactly those: the backbone identity's fingerprint (`backbones.protocol.identity_of`),
the sentences in order, and the precision (the text tower's weight dtype and device type: another dtype or
device gives other bits). The entry holds the embeddings bit for bit ([n, D], as `encode_text` returned them).

The folder: `<feature_cache_dir>/text_features` with `feature_cache="disk"`, else `$TIPSOMALY_CACHE_DIR` or
`~/.cache/tipsomaly`, then `/text_features`. A folder that cannot be written, or a damaged entry, costs a
warning and an encoding, never the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

from datamodules.atomic_files import atomic_path

from lightning_modules.backbones.protocol import identity_of

SUBFOLDER = "text_features"


def default_cache_root() -> Path:
    """`$TIPSOMALY_CACHE_DIR`, else `$XDG_CACHE_HOME/tipsomaly`, else `~/.cache/tipsomaly`."""
    if os.environ.get("TIPSOMALY_CACHE_DIR"):
        return Path(os.environ["TIPSOMALY_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tipsomaly"


class TextFeatureCache:
    """Sentence embeddings by (backbone fingerprint, sentences, precision), one small file per entry."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.hits = 0
        self.misses = 0
        self._writable = True

    @classmethod
    def default(cls) -> "TextFeatureCache":
        return cls(default_cache_root() / SUBFOLDER)

    def key(self, fingerprint: str, sentences: list[str], precision: str) -> str:
        return hashlib.sha256(json.dumps([fingerprint, precision, list(sentences)]).encode()).hexdigest()

    def _read(self, path: Path) -> Tensor | None:
        if not path.is_file():
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=True)["embeddings"]
        except Exception as error:  # a truncated or foreign file: recompute (and replace) it
            warnings.warn(f"text feature cache entry {path} is unreadable ({type(error).__name__}); encoding again and replacing it "
                          f"(delete {self.directory} to clear the cache)", stacklevel=3)
            return None

    def _write(self, path: Path, embeddings: Tensor) -> None:
        if not self._writable:
            return
        try:
            with atomic_path(path) as temporary:
                torch.save({"embeddings": embeddings.detach().cpu().clone()}, temporary)
        except OSError as error:
            self._writable = False
            warnings.warn(f"text feature cache {self.directory} cannot be written ({error}); fixed prompts are encoded without it", stacklevel=3)

    def encoder(self, tips) -> Callable[[list[str]], Tensor]:
        """`encode_text` of `tips`, served from the cache where the same backbone encoded the same sentences alike."""
        fingerprint: list[str] = []

        def encode(sentences: list[str]) -> Tensor:
            if not fingerprint:
                fingerprint.append(identity_of(tips)["fingerprint"])
            weight = tips.text.token_embedding.weight
            precision = f"{weight.device.type}|{weight.dtype}"
            path = self.directory / f"{self.key(fingerprint[0], sentences, precision)}.pt"
            cached = self._read(path)
            if cached is not None:
                self.hits += 1
                return cached.to(weight.device)
            self.misses += 1
            embeddings = tips.encode_text(sentences)
            self._write(path, embeddings)
            return embeddings

        return encode


def text_cache_for(feature_cache: str, feature_cache_dir: str | os.PathLike | None) -> TextFeatureCache | None:
    """The text cache of a module's feature-cache setting: none for "off", beside the image features for "disk",
    the user's cache folder otherwise."""
    if feature_cache == "off":
        return None
    if feature_cache == "disk" and feature_cache_dir:
        return TextFeatureCache(Path(feature_cache_dir) / SUBFOLDER)
    return TextFeatureCache.default()
