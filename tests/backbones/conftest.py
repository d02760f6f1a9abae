"""The tiny SigLIP fixture (tests/data/siglip2): a random SiglipModel saved by transformers, a prompt file in the
reference's format, and the reference's own `siglip2-hf` outputs on two images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

SIGLIP_DATA = Path(__file__).parents[1] / "data" / "siglip2"
SIGLIP_FOLDER = SIGLIP_DATA / "hf"


@pytest.fixture(scope="session")
def siglip_meta() -> dict:
    return json.loads((SIGLIP_DATA / "siglip2_meta.json").read_text())


@pytest.fixture(scope="session")
def siglip_reference() -> dict[str, np.ndarray]:
    with np.load(SIGLIP_DATA / "siglip2_reference.npz") as archive:
        return {key: archive[key] for key in archive.files}


@pytest.fixture(scope="session")
def siglip_pixels(siglip_reference) -> torch.Tensor:
    """The reference's pixels in [0, 1]: what our data hands the backbone."""
    return torch.from_numpy(siglip_reference["pixel_values"]) * 0.5 + 0.5


@pytest.fixture(scope="session")
def tiny_siglip():
    from lightning_modules.backbones.siglip import load_siglip

    return load_siglip(SIGLIP_FOLDER)
