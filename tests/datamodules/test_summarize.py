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
    assert re.search(r"file '.*/good/001.png' cannot be decoded", message)
