"""Images and masks read back from the resized-image cache equal a fresh decode bit for bit."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from datamodules import AnomalyDataset, DatasetSpec, make_synthetic_dataset
from datamodules.resized_cache import ResizedImageCache


def _items(dataset):
    return [dataset[i] for i in range(len(dataset))]


@pytest.mark.parametrize("resize", ["reference", "letterbox"])
def test_cached_items_equal_fresh_ones(tmp_path, resize):
    root = make_synthetic_dataset(tmp_path / "data", n_normal=2, n_anomalous=2, image_size=40)
    spec = DatasetSpec("s", "mvtec", str(root))
    fresh = _items(AnomalyDataset.from_spec(spec, image_size=28, resize=resize))
    cached_set = AnomalyDataset.from_spec(spec, image_size=28, resize=resize, image_cache_dir=str(tmp_path / "cache"))
    first, second = _items(cached_set), _items(cached_set)  # writes, then reads back
    assert len(list((tmp_path / "cache").rglob("*.pt"))) == len(fresh) == 8
    for a, b, c in zip(fresh, first, second):
        for field in ("image", "mask", "region_weights"):
            assert torch.equal(getattr(a, field), getattr(c, field)) and torch.equal(getattr(a, field), getattr(b, field))
        assert a.fingerprint == c.fingerprint  # so the feature cache keys agree too


def test_a_changed_file_or_size_is_another_entry(tmp_path):
    root = make_synthetic_dataset(tmp_path / "data", classes=("grid_texture",), n_normal=1, n_anomalous=0, image_size=40)
    spec = DatasetSpec("s", "mvtec", str(root))
    dataset = AnomalyDataset.from_spec(spec, image_size=28, image_cache_dir=str(tmp_path / "cache"))
    before = dataset[0].image
    path = dataset.samples["image_path"][0]
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(path)
    os.utime(path, ns=(1, 1))
    assert torch.equal(dataset[0].image, torch.zeros(3, 28, 28)) and not torch.equal(before, torch.zeros(3, 28, 28))
    AnomalyDataset.from_spec(spec, image_size=42, image_cache_dir=str(tmp_path / "cache"))[0]
    assert len(list((tmp_path / "cache").rglob("*.pt"))) == 3


def test_non_byte_images_are_kept_as_float32(tmp_path):
    cache = ResizedImageCache(tmp_path)
    image, mask = torch.rand(3, 4, 4), torch.zeros(4, 4)
    cache.save("ab" * 32, image, mask)
    loaded_image, loaded_mask = cache.load("ab" * 32)
    assert torch.equal(loaded_image, image) and torch.equal(loaded_mask, mask)


def test_a_cache_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="image_cache_dir '.*file' is a file; expected a folder"):
        ResizedImageCache(tmp_path / "file")
