"""summarize: per-class counts to check a dataset before a long run, optionally opening every file header."""

from __future__ import annotations

import re

import pytest

from datamodules import DatasetLayoutError, summarize


def test_counts_per_class_show_anomalous_images_without_masks(tree):
    tree.image("bottle/test/good/000.png")
    tree.image("bottle/test/crack/000.png")
    tree.image("bottle/test/crack/001.png")
    tree.mask("bottle/ground_truth/crack/000_mask.png")
    tree.image("cable/test/good/000.png")

    table = summarize("mvtec", tree.root, allow_missing_masks=True)

    assert table.index.tolist() == ["bottle", "cable", "total"]
    assert table.values.tolist() == [[1, 2, 1], [1, 0, 0], [2, 2, 1]]
    assert table.columns.tolist() == ["normal", "anomalous", "masks"]


def test_check_files_lists_size_mismatches_and_unreadable_files(tree):
    tree.image("bottle/test/good/000.png")
    tree.text("bottle/test/good/001.png", "truncated download")
    tree.image("bottle/test/crack/000.png", size=(20, 16))
    tree.mask("bottle/ground_truth/crack/000_mask.png", size=(16, 16))

    with pytest.raises(DatasetLayoutError) as error:
        summarize("mvtec", tree.root, check_files=True)

    message = str(error.value)
    assert message.startswith("2 problem(s) found in 3 samples:")
    assert re.search(r"mask '.*/000_mask.png' is 16x16 but its image '.*/crack/000.png' is 20x16", message)
    assert re.search(r"image '.*/good/001.png' cannot be decoded", message)


def _truncate(path, keep: float = 0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_check_files_decodes_every_pixel_so_truncated_files_are_named(tree):
    import numpy as np
    from PIL import Image

    tree.image("bottle/test/good/000.png")
    noisy = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)  # big enough to cut mid-data
    for name in ("001.png", "002.jpg"):
        Image.fromarray(noisy).save(tree.root / "bottle/test/good" / name)
        _truncate(tree.root / "bottle/test/good" / name)
    tree.image("bottle/test/crack/000.png")
    tree.mask("bottle/ground_truth/crack/000_mask.png")

    assert summarize("mvtec", tree.root).loc["total", "normal"] == 3  # counting alone opens no file
    with pytest.raises(DatasetLayoutError) as error:
        summarize("mvtec", tree.root, check_files=True)

    message = str(error.value)
    assert message.startswith("2 problem(s) found in 4 samples:")
    assert re.search(r"image '.*/good/001\.png' cannot be decoded \(image file is truncated", message)
    assert re.search(r"image '.*/good/002\.jpg' cannot be decoded \(image file is truncated", message)


def test_check_files_counts_and_names_anomalous_images_with_empty_masks(tree):
    tree.image("bottle/test/good/000.png")
    tree.image("bottle/test/crack/000.png")
    tree.image("bottle/test/crack/001.png")
    tree.mask("bottle/ground_truth/crack/000_mask.png")
    tree.mask("bottle/ground_truth/crack/001_mask.png", value=0)  # all zero

    with pytest.warns(UserWarning, match=r"1 anomalous image\(s\) have an empty mask:\n  mask '.*/001_mask\.png' of anomalous image '.*/crack/001\.png' has no pixel above 0"):
        table = summarize("mvtec", tree.root, check_files=True)

    assert table.columns.tolist() == ["normal", "anomalous", "masks", "empty_masks"]
    assert table.loc["bottle"].tolist() == [1, 2, 2, 1]


def test_tn3k_jpeg_noise_is_not_an_anomaly_at_its_threshold(tree):
    tree.image("test-image/0000.jpg")
    tree.mask("test-mask/0000.jpg", value=40)  # below tn3k's threshold 127: an empty mask after binarising
    with pytest.warns(UserWarning, match=r"has no pixel above 127"):
        assert summarize("tn3k", tree.root, check_files=True).loc["tn3k", "empty_masks"] == 1
    assert summarize("tn3k", tree.root, check_files=True, mask_threshold=0).loc["tn3k", "empty_masks"] == 0


def test_mask_is_empty_for_the_dataset_to_warn_at_load_time(tree):
    from datamodules.image_io import mask_is_empty, read_mask

    full = tree.mask("a_mask.png")
    blank = tree.mask("b_mask.png", value=0)
    assert (mask_is_empty(read_mask(full, 0)), mask_is_empty(read_mask(blank, 0))) == (False, True)
