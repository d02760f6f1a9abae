"""Frozen visual features are computed once per input tensor and never served to another computation."""

import pytest
import torch

from datamodules.fingerprint import file_identity, image_fingerprint
from lightning_modules.tipsomaly import TipsomalyModel
from lightning_modules.tipsomaly.feature_cache import FeatureCache, compute_precision


def _counting_model(tiny_tips, cache):
    from lightning_modules.tips import load_tips
    from tests.conftest import tiny_files

    # its own backbone: the counting wrapper must not leak into the session's shared tiny_tips("mlp")
    model = TipsomalyModel(load_tips(**tiny_files("mlp")), feature_cache=cache)
    calls = []
    original = model.tips.encode_image
    model.tips.encode_image = lambda images, **options: calls.append(images.shape[0]) or original(images, **options)
    return model, calls


@pytest.mark.parametrize("mode", ["memory", "disk"])
def test_second_epoch_reads_the_cache_and_gets_identical_features(tiny_tips, tmp_path, mode):
    cache = FeatureCache(mode, tmp_path / "cache", backbone_key="tiny")
    model, calls = _counting_model(tiny_tips, cache)
    images = torch.rand(2, 3, 28, 28)
    first = model.visual_features(images, use_cache=True)
    second = model.visual_features(images.clone(), use_cache=True)
    assert calls == [2]
    assert cache.hits == 2 and cache.misses == 2
    torch.testing.assert_close(first[2], second[2], rtol=0, atol=0)
    if mode == "disk":
        assert len(list((tmp_path / "cache").glob("*.pt"))) == 2


def test_a_changed_tensor_is_recomputed_whatever_its_file(tiny_tips):
    # the same file resized another way or flipped is another tensor, so another key
    model, calls = _counting_model(tiny_tips, FeatureCache("memory", backbone_key="tiny"))
    images = torch.rand(2, 3, 28, 28)
    model.visual_features(images, use_cache=True)
    flipped = images.clone()
    flipped[1] = flipped[1].flip(-1)
    _, _, patches = model.visual_features(flipped, use_cache=True)
    assert calls == [2, 1]  # only the flipped image is encoded again
    torch.testing.assert_close(patches[1], model.tips.encode_image(flipped[1:])[2][0])


def test_autocast_features_are_not_served_to_a_float32_run(tiny_tips):
    model, calls = _counting_model(tiny_tips, FeatureCache("memory", backbone_key="tiny"))
    images = torch.rand(2, 3, 28, 28)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model.visual_features(images, use_cache=True)
    _, _, patches = model.visual_features(images, use_cache=True)
    assert calls == [2, 2]
    with torch.no_grad():
        torch.testing.assert_close(patches, model.tips.encode_image(images)[2], rtol=0, atol=0)


def test_precision_names_weights_and_autocast():
    assert compute_precision("cpu", torch.float32) == "torch.float32|no-autocast"
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert compute_precision("cpu", torch.float32) == "torch.float32|autocast-torch.bfloat16"


def test_memory_mode_stops_storing_at_its_bound_and_says_so(tiny_tips):
    cache = FeatureCache("memory", backbone_key="tiny", max_memory_mb=1e-9)
    model, calls = _counting_model(tiny_tips, cache)
    images = torch.rand(2, 3, 28, 28)
    model.visual_features(images, use_cache=True)
    model.visual_features(images, use_cache=True)
    assert calls == [2, 2] and cache.bytes == 0 and cache.not_stored == 4
    assert "0 images" in cache.describe() and "4 not stored (memory bound)" in cache.describe()
    roomy = FeatureCache("memory", backbone_key="tiny")
    model, calls = _counting_model(tiny_tips, roomy)
    model.visual_features(images, use_cache=True)
    per_image = roomy.bytes // 2
    assert per_image == (2 * 64 + 4 * 64) * 4  # first, second [64] and 4 patches [4, 64], float32
    roomy.clear()
    assert roomy.bytes == 0 and "0 images" in roomy.describe()


def test_fingerprint_sees_every_byte():
    image = torch.rand(3, 28, 28)
    changed = image.clone()
    changed[2, 27, 27] += 1e-7
    assert image_fingerprint(image) == image_fingerprint(image.clone())
    assert image_fingerprint(image) != image_fingerprint(changed)
    assert image_fingerprint(image) != image_fingerprint(image.to(torch.bfloat16))


def test_off_mode_always_computes(tiny_tips):
    model, calls = _counting_model(tiny_tips, FeatureCache("off"))
    for _ in range(2):
        model.visual_features(torch.rand(2, 3, 28, 28), use_cache=True)
    assert calls == [2, 2]


def test_disk_mode_needs_a_folder():
    with pytest.raises(ValueError, match="feature cache mode 'disk' needs a directory"):
        FeatureCache("disk")


def test_file_identity_names_path_size_and_time(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"1234")
    assert file_identity(path).startswith(str(path)) and ":4:" in file_identity(path)


def test_plain_inference_neither_fills_the_memory_cache_nor_hashes_the_images(monkeypatch):
    """README: memory mode caches training images only. Five plain calls leave it empty, and no image is copied
    to the host to be fingerprinted (a device sync per call)."""
    from lightning_modules import Tipsomaly, TipsSpec
    from lightning_modules.tipsomaly import torch_model
    from tests.conftest import tiny_files

    def no_hashing(image):
        raise AssertionError("plain inference must not fingerprint its images")

    monkeypatch.setattr(torch_model, "image_fingerprint", no_hashing)
    module = Tipsomaly(backbone=TipsSpec(**tiny_files("mlp")), feature_cache="memory")
    assert module.model.feature_cache.mode == "memory"
    for seed in range(5):
        images = torch.rand(2, 3, 28, 28, generator=torch.Generator().manual_seed(seed))
        module(images, ["bottle", "screw"])
        module.model(images, ["bottle", "screw"])
    cache = module.model.feature_cache
    assert (len(cache._memory), cache.bytes, cache.hits, cache.misses) == (0, 0, 0, 0)


def _features(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(1, 8, generator=generator), torch.randn(1, 8, generator=generator), torch.randn(1, 4, 8, generator=generator)


def test_a_cache_folder_that_is_a_file_is_one_clear_error(tmp_path):
    (tmp_path / "cache").write_text("not a folder")
    with pytest.raises(ValueError, match=r"feature_cache_dir '.*cache' is a file, expected a folder"):
        FeatureCache("disk", tmp_path / "cache")


def test_a_damaged_disk_entry_is_named_removed_and_recomputed(tmp_path):
    cache = FeatureCache("disk", tmp_path, "backbone")
    key = cache.key("image", "float32")
    cache.put(key, tuple(part[0] for part in _features()))
    entry = tmp_path / f"{key}.pt"
    entry.write_bytes(entry.read_bytes()[:40])  # truncated, as a killed copy leaves it
    computed = []
    with pytest.warns(UserWarning, match=rf"feature cache entry .*{key}\.pt is damaged .* removed and recomputed"):
        first, _, _ = cache.lookup(["image"], "float32", torch.device("cpu"), lambda rows: computed.append(rows) or _features(1))
    assert computed == [[0]] and torch.equal(first, _features(1)[0])
    assert torch.equal(cache.get(key)[0], _features(1)[0][0])  # written again, whole


def test_a_failed_disk_write_stops_caching_but_not_the_run(tmp_path, monkeypatch):
    cache = FeatureCache("disk", tmp_path, "backbone")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.warns(UserWarning, match="writing to .* failed .*No space left on device.*caching is off"):
        features = cache.lookup(["a"], "float32", torch.device("cpu"), lambda rows: _features(0))
    assert features[0].shape == (1, 8) and cache.write_failed
    assert not list(tmp_path.iterdir())  # no partial entry left behind
    cache.lookup(["c"], "float32", torch.device("cpu"), lambda rows: _features(2))  # no second warning, no raise
    assert "writes stopped after a failed write" in cache.describe()
