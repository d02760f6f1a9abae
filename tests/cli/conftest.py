"""A workspace for running `tipsomaly` in-process: generated source and target sets and a config that points
the model at the tiny TIPS checkpoint in the official format (tests/data/tips)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from datamodules import make_synthetic_dataset
from tests.conftest import tiny_files

IMAGE_SIZE = 28


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    """<ws>/source, <ws>/target (2 classes x (2 normal + 3 anomalous)), <ws>/tiny.yaml."""
    root = tmp_path_factory.mktemp("cli")
    make_synthetic_dataset(root / "source", n_normal=2, n_anomalous=3, image_size=32, seed=1)
    make_synthetic_dataset(root / "target", n_normal=2, n_anomalous=3, image_size=32, seed=2)
    config = {
        "model": {"backbone": tiny_files("mlp"), "lr": 0.01},
        "data": {
            "train_sets": [{"name": "source", "format": "mvtec", "root": str(root / "source")}],
            "test_sets": [{"name": "target", "format": "mvtec", "root": str(root / "target")}],
            "image_size": IMAGE_SIZE,
            "batch_size": 4,
            "num_workers": 0,
        },
        "trainer": {
            "max_epochs": 2, "accelerator": "cpu", "devices": 1, "logger": False,
            "enable_progress_bar": False, "enable_model_summary": False,
        },
    }
    (root / "tiny.yaml").write_text(yaml.safe_dump(config))
    return root
