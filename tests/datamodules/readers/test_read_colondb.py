"""CVC-ColonDB: images/ + masks/ of the same names; all anomalous."""

from __future__ import annotations

import pytest

from datamodules import DatasetLayoutError, read_samples


def test_images_pair_with_masks_of_the_same_name(tree):
    for name in ("1", "2", "10"):
        tree.image(f"images/{name}.png")
        tree.mask(f"masks/{name}.png")

    samples = read_samples("colondb", tree.root)

    assert [p.rsplit("/", 1)[1] for p in samples["image_path"]] == ["1.png", "10.png", "2.png"]
    assert [p.rsplit("/", 1)[1] for p in samples["mask_path"]] == ["1.png", "10.png", "2.png"]
    assert samples[["class_name", "defect_type", "label"]].drop_duplicates().values.tolist() == [["colon", "polyp", 1]]


def test_a_missing_mask_folder_is_an_error(tree):
    tree.image("images/1.png")

    with pytest.raises(DatasetLayoutError, match=r"mask folder '.*/masks' is missing or empty but colondb has a mask "
                                                 r"for each of its 1 images"):
        read_samples("colondb", tree.root)


def test_a_root_without_images_folder_names_the_layout(tree):
    with pytest.raises(DatasetLayoutError, match=r"holds none of the colondb layouts images/ \+ masks/"):
        read_samples("colondb", tree.root)
