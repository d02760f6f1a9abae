"""HeadCT: labels.csv (id, hemorrhage) + head_ct/NNN.png; image level only."""

from __future__ import annotations

import pytest

from datamodules import DatasetLayoutError, read_samples


def test_labels_come_from_the_csv_matched_by_number(tree):
    tree.text("labels.csv", "id, hemorrhage\n0,1\n7,0\n12,1\n")  # the header's space is in the Kaggle file
    for number in ("000", "007", "012"):
        tree.image(f"head_ct/head_ct/{number}.png", mode="L")  # the archive nests head_ct twice

    samples = read_samples("headct", tree.root)

    assert samples.to_dict("records") == [
        dict(image_path=tree.path("head_ct/head_ct/000.png"), mask_path=None, class_name="headct",
             defect_type="hemorrhage", label=1),
        dict(image_path=tree.path("head_ct/head_ct/007.png"), mask_path=None, class_name="headct",
             defect_type="good", label=0),
        dict(image_path=tree.path("head_ct/head_ct/012.png"), mask_path=None, class_name="headct",
             defect_type="hemorrhage", label=1),
    ]


def test_csv_and_images_must_agree(tree):
    tree.text("labels.csv", "id, hemorrhage\n0,1\n1,0\n")
    tree.image("head_ct/000.png", mode="L")
    tree.image("head_ct/002.png", mode="L")

    with pytest.raises(DatasetLayoutError, match=r"disagree: images without a csv row '002.png'; csv ids without "
                                                 r"an image \[1\]"):
        read_samples("headct", tree.root)


def test_missing_labels_csv_and_bad_flags_are_errors(tree):
    tree.image("head_ct/000.png", mode="L")
    with pytest.raises(DatasetLayoutError, match=r"labels.csv' does not exist; expected labels.csv \(id, hemorrhage\)"):
        read_samples("headct", tree.root)

    tree.text("labels.csv", "id, hemorrhage\n0,yes\n")
    with pytest.raises(DatasetLayoutError, match=r"line 2: '0,yes'; expected an integer id and a 0/1 hemorrhage flag"):
        read_samples("headct", tree.root)


def test_allowing_missing_masks_is_refused_for_an_image_level_set(tree):
    with pytest.raises(DatasetLayoutError, match=r"format 'headct' has no masks, so allow_missing_masks=True does not"):
        read_samples("headct", tree.root, allow_missing_masks=True)
