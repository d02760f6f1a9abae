"""Frozen visual features are computed once per training image and never served stale."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from lightning_modules.tipsomaly import TipsomalyModel
from lightning_modules.tipsomaly.feature_cache import FeatureCache, file_identity


def _write_images(folder, count=2, seed=0):
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (28, 28, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def _counting_model(tiny_tips, cache):
    model = TipsomalyModel(tiny_tips("mlp"), feature_cache=cache)
    calls = []
    original = model.tips.encode_image
    model.tips.encode_image = lambda images: calls.append(images.shape[0]) or original(images)
    return model, calls


@pytest.mark.parametrize("mode", ["memory", "disk"])
def test_second_epoch_reads_the_cache_and_gets_identical_features(tiny_tips, tmp_path, mode):
    paths = _write_images(tmp_path)
    cache = FeatureCache(mode, tmp_path / "cache", backbone_key="tiny")
    model, calls = _counting_model(tiny_tips, cache)
    images = torch.rand(2, 3, 28, 28)
    first = model.visual_features(images, paths)
    second = model.visual_features(images, paths)
    assert calls == [2]
    assert cache.hits == 2 and cache.misses == 2
    torch.testing.assert_close(first.patches, second.patches, rtol=0, atol=0)
    if mode == "disk":
        assert len(list((tmp_path / "cache").glob("*.pt"))) == 2


def test_a_changed_image_file_is_recomputed(tiny_tips, tmp_path):
    paths = _write_images(tmp_path)
    model, calls = _counting_model(tiny_tips, FeatureCache("memory", backbone_key="tiny"))
    model.visual_features(torch.rand(2, 3, 28, 28), paths)
    Image.fromarray(np.zeros((28, 28, 3), np.uint8)).save(paths[1])
    os.utime(paths[1], ns=(1, 1))  # a different modification time, whatever the clock's resolution
    model.visual_features(torch.rand(2, 3, 28, 28), paths)
    assert calls == [2, 1]  # only the changed image is encoded again


def test_keys_differ_by_backbone_size_and_dtype(tmp_path):
    path = _write_images(tmp_path, count=1)[0]
    a = FeatureCache("memory", backbone_key="tips-a")
    b = FeatureCache("memory", backbone_key="tips-b")
    keys = {
        a.key(path, (224, 224), torch.float32),
        b.key(path, (224, 224), torch.float32),
        a.key(path, (518, 518), torch.float32),
        a.key(path, (224, 224), torch.bfloat16),
    }
    assert len(keys) == 4


def test_off_mode_always_computes(tiny_tips, tmp_path):
    paths = _write_images(tmp_path)
    model, calls = _counting_model(tiny_tips, FeatureCache("off"))
    for _ in range(2):
        model.visual_features(torch.rand(2, 3, 28, 28), paths)
    assert calls == [2, 2]


def test_disk_mode_needs_a_folder():
    with pytest.raises(ValueError, match="feature cache mode 'disk' needs a directory"):
        FeatureCache("disk")


def test_file_identity_names_path_size_and_time(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"1234")
    assert file_identity(path).startswith(str(path)) and ":4:" in file_identity(path)
