"""The tiny SigLIP fixture (tests/data/siglip2): a random SiglipModel saved by transformers, a prompt file in the
reference's format, and the reference's own `siglip2-hf` outputs on two images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

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


def write_workspace(root: Path, backbone_folder: Path, image_size: int, name: str, n_target_normal: int = 2) -> Path:
    """<root>/source, <root>/target (2 classes, 32 px) and the config <root>/<name>: a one-epoch fit and test on the backbone
    folder given as `model.backbone: {checkpoint_dir: FOLDER}` alone (its kind read from config.json)."""
    from datamodules import make_synthetic_dataset

    make_synthetic_dataset(root / "source", n_normal=2, n_anomalous=2, image_size=32, seed=1)
    make_synthetic_dataset(root / "target", n_normal=n_target_normal, n_anomalous=2, image_size=32, seed=2)
    config = {
        "model": {"backbone": {"checkpoint_dir": str(backbone_folder)}, "lr": 0.01, "feature_cache": "off"},
        "data": {
            "train_sets": [{"name": "source", "format": "mvtec", "root": str(root / "source")}],
            "test_sets": [{"name": "target", "format": "mvtec", "root": str(root / "target")}],
            "image_size": image_size, "batch_size": 4, "num_workers": 0,
        },
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "logger": False,
                    "enable_progress_bar": False, "enable_model_summary": False},
    }
    (root / name).write_text(yaml.safe_dump(config))
    return root / name
