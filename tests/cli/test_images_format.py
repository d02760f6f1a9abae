"""The unlabelled `images` format that `predict` reads: a folder of images, or one folder per class."""

from __future__ import annotations

import pytest
from PIL import Image

from datamodules import read_samples
from datamodules.errors import DatasetLayoutError


def _image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8)).save(path)


def test_a_flat_folder_is_one_class_named_by_the_folder(tmp_path):
    for name in ("b.png", "a.jpg"):
        _image(tmp_path / "line3" / name)
    table = read_samples("images", tmp_path / "line3")
    assert [p.rsplit("/", 1)[-1] for p in table["image_path"]] == ["a.jpg", "b.png"]
    assert set(table["class_name"]) == {"line3"} and (table["label"] == -1).all()
    assert table["mask_path"].isna().all()
    assert set(read_samples("images", tmp_path / "line3", class_name="screw")["class_name"]) == {"screw"}


def test_class_folders_name_their_classes(tmp_path):
    _image(tmp_path / "screw" / "1.png")
    _image(tmp_path / "nut" / "1.png")
    _image(tmp_path / "nut" / "2.png")
    assert list(read_samples("images", tmp_path)["class_name"]) == ["nut", "nut", "screw"]
    with pytest.raises(DatasetLayoutError, match="class_name 'bolt' was given but"):
        read_samples("images", tmp_path, class_name="bolt")


def test_loose_images_beside_class_folders_are_refused(tmp_path):
    _image(tmp_path / "screw" / "1.png")
    _image(tmp_path / "stray.png")
    with pytest.raises(DatasetLayoutError, match="holds both images .* and class folders"):
        read_samples("images", tmp_path)


def test_a_folder_without_images(tmp_path):
    with pytest.raises(DatasetLayoutError, match="no images in"):
        read_samples("images", tmp_path)
