"""Shared test data: the tiny TIPS checkpoints in the official format and their official outputs."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

TIPS_DATA = Path(__file__).parent / "data" / "tips"
# helper B: the fixed-prompt text cache (text_feature_cache.py) of the test session, never the user's ~/.cache
os.environ.setdefault("TIPSOMALY_CACHE_DIR", tempfile.mkdtemp(prefix="tipsomaly-test-cache-"))
HEADS = 4  # the tiny fixtures fit no official preset, so their head count is given


def tiny_files(kind: str) -> dict[str, str]:
    """Explicit-path arguments of `load_tips` for the tiny `mlp` or `swiglu` checkpoint."""
    return dict(
        vision_checkpoint=str(TIPS_DATA / f"tips_tiny_{kind}_vision.npz"),
        text_checkpoint=str(TIPS_DATA / f"tips_tiny_{kind}_text.npz"),
        tokenizer=str(TIPS_DATA / "tokenizer.model"),
        vision_num_heads=HEADS,
        text_num_heads=HEADS,
    )


def fixture_images(size: int) -> torch.Tensor:
    """The two fixture PNGs as the official outputs were made: PIL bilinear to size x size, /255."""
    images = []
    for index in range(2):
        image = Image.open(TIPS_DATA / "images" / f"img{index}.png").convert("RGB").resize((size, size), Image.BILINEAR)
        images.append(torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 255)
    return torch.stack(images)


@pytest.fixture(scope="session")
def reference_outputs() -> dict[str, np.ndarray]:
    with np.load(TIPS_DATA / "reference_outputs.npz") as archive:
        return {key: archive[key] for key in archive.files}


@pytest.fixture(scope="session")
def fixture_sentences() -> list[str]:
    return json.loads((TIPS_DATA / "meta.json").read_text())["sentences"]


@pytest.fixture(scope="session")
def tiny_tips():
    """Session cache of loaded tiny models: tiny_tips("mlp") / tiny_tips("swiglu")."""
    from lightning_modules.tips import load_tips

    cache = {}

    def get(kind: str = "mlp"):
        if kind not in cache:
            cache[kind] = load_tips(**tiny_files(kind))
        return cache[kind]

    return get
