"""Br35H: yes/ anomalous, no/ normal; the unlabelled pred/ is never read."""

from __future__ import annotations

import pytest

from datamodules import DatasetLayoutError, read_samples


def test_pred_is_never_read(tree):
    tree.image("yes/y0.jpg")
    tree.image("yes/y1.jpg")
    tree.image("no/no0.jpg")
    tree.image("pred/pred0.jpg")
    tree.image("pred/pred1.jpg")

    samples = read_samples("br35h", tree.root)

    assert samples["image_path"].tolist() == [tree.path("no/no0.jpg"), tree.path("yes/y0.jpg"), tree.path("yes/y1.jpg")]
    assert samples["label"].tolist() == [0, 1, 1]
    assert set(samples["class_name"]) == {"br35h"}


def test_an_empty_folder_is_an_error(tree):
    tree.image("yes/y0.jpg")
    (tree.root / "no").mkdir()

    with pytest.raises(DatasetLayoutError, match=r"'.*/no' holds no .jpg/.jpeg/.png images"):
        read_samples("br35h", tree.root)
