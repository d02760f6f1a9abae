"""make_synthetic_dataset: a small MVTec-layout set with scratches, holes and stains, deterministic per seed."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from datamodules import make_synthetic_dataset, read_samples, summarize


def test_layout_counts_and_defect_types(tmp_path):
    root = make_synthetic_dataset(tmp_path, n_normal=3, n_anomalous=4)

    samples = read_samples("mvtec", root)

    assert summarize("mvtec", root).to_dict("index") == {
        "grid_texture": {"normal": 3, "anomalous": 4, "masks": 4},
        "round_object": {"normal": 3, "anomalous": 4, "masks": 4},
        "total": {"normal": 6, "anomalous": 8, "masks": 8},
    }
    assert samples.groupby("defect_type").size().to_dict() == {"good": 6, "hole": 2, "scratch": 4, "stain": 2}
    train_images = sorted(p.name for p in (root / "grid_texture" / "train" / "good").iterdir())
    assert train_images == ["000.png", "001.png", "002.png"]


def test_every_defect_has_a_non_empty_mask_that_matches_changed_pixels(tmp_path):
    root = make_synthetic_dataset(tmp_path, n_normal=1, n_anomalous=3, image_size=48)
    samples = read_samples("mvtec", root)

    for image_path, mask_path in samples.loc[samples["label"] == 1, ["image_path", "mask_path"]].values:
        mask = np.asarray(Image.open(mask_path)) > 0
        image = np.asarray(Image.open(image_path).convert("L"), dtype=np.float32)
        assert mask.shape == (48, 48) and 0 < mask.sum() < 48 * 48 / 4
        assert abs(image[mask].mean() - image[~mask].mean()) > 15  # the defect is visible


def test_same_seed_same_bytes_other_seed_other_images_and_some_grayscale(tmp_path):
    first = make_synthetic_dataset(tmp_path / "a", seed=3)
    again = make_synthetic_dataset(tmp_path / "b", seed=3)
    other = make_synthetic_dataset(tmp_path / "c", seed=4)

    files = sorted(p.relative_to(first) for p in first.rglob("*.png"))
    assert files == sorted(p.relative_to(again) for p in again.rglob("*.png"))
    assert all((first / f).read_bytes() == (again / f).read_bytes() for f in files)
    assert any((first / f).read_bytes() != (other / f).read_bytes() for f in files)
    modes = {Image.open(first / f).mode for f in files if "ground_truth" not in str(f)}
    assert modes == {"RGB", "L"}


def test_class_names_must_say_what_to_draw(tmp_path):
    with pytest.raises(ValueError, match=r"synthetic class 'bottle' must contain 'texture' or 'object'"):
        make_synthetic_dataset(tmp_path, classes=("bottle",))
