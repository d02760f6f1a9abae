"""KolektorSDD: kosNN/PartN.jpg + PartN_label.bmp (anomalous iff the label has a non-zero pixel), or the
MVTec-style copy with class SDD."""

from __future__ import annotations

import pytest

from datamodules import DatasetLayoutError, read_samples


def test_native_layout_labels_come_from_the_label_images(tree):
    tree.image("kos01/Part0.jpg", mode="L")
    tree.mask("kos01/Part0_label.bmp", value=0)  # all zero: defect-free
    tree.image("kos01/Part1.jpg", mode="L")
    tree.mask("kos01/Part1_label.bmp", box=(3, 3, 4, 4))  # a single defect pixel is enough
    tree.image("kos10/Part0.jpg", mode="L")
    tree.mask("kos10/Part0_label.bmp", value=0)
    tree.text("kos10/Thumbs.db", "")

    samples = read_samples("ksdd", tree.root)

    assert samples.to_dict("records") == [
        dict(image_path=tree.path("kos01/Part0.jpg"), mask_path=tree.path("kos01/Part0_label.bmp"),
             class_name="electrical commutators", defect_type="good", label=0),
        dict(image_path=tree.path("kos01/Part1.jpg"), mask_path=tree.path("kos01/Part1_label.bmp"),
             class_name="electrical commutators", defect_type="defect", label=1),
        dict(image_path=tree.path("kos10/Part0.jpg"), mask_path=tree.path("kos10/Part0_label.bmp"),
             class_name="electrical commutators", defect_type="good", label=0),
    ]


def test_an_image_without_label_file_cannot_be_classified(tree):
    tree.image("kos02/Part3.jpg", mode="L")

    with pytest.raises(DatasetLayoutError, match=r"1 image\(s\) in '.*/kos02' have no label file: 'Part3.jpg'; "
                                                 r"expected 'Part3_label.bmp' next to 'Part3.jpg'"):
        read_samples("ksdd", tree.root)


def test_mvtec_style_copy_is_read_as_class_sdd(tree):
    tree.image("SDD/test/good/kos01_Part0_0.png")
    tree.image("SDD/test/defect/kos01_Part1_2.png")
    tree.mask("SDD/ground_truth/defect/kos01_Part1_2_mask.png")

    samples = read_samples("ksdd", tree.root)

    assert samples[["class_name", "defect_type", "label"]].values.tolist() == [["SDD", "defect", 1], ["SDD", "good", 0]]
    assert samples["mask_path"].tolist() == [tree.path("SDD/ground_truth/defect/kos01_Part1_2_mask.png"), None]


def test_neither_layout_is_an_error_naming_both(tree):
    tree.image("images/Part0.jpg")

    with pytest.raises(DatasetLayoutError, match=r"holds neither 'kosNN' folders nor an MVTec-style 'test' folder"):
        read_samples("ksdd", tree.root)
