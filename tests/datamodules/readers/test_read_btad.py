"""BTAD: 01|02|03/test/ok normal, test/ko anomalous, masks ground_truth/ko/<stem>.<png|bmp>."""

from __future__ import annotations

import pytest

from datamodules import DatasetLayoutError, read_samples


def test_ok_is_normal_ko_is_anomalous_and_masks_pair_across_extensions(tree):
    tree.image("01/train/ok/0000.bmp")
    tree.image("01/test/ok/0000.bmp")
    tree.image("01/test/ko/0000.bmp")
    tree.mask("01/ground_truth/ko/0000.png")  # product 01: .bmp images, .png masks
    tree.image("03/test/ok/0000.bmp", mode="L")
    tree.image("03/test/ko/0001.bmp")
    tree.mask("03/ground_truth/ko/0001.bmp")  # product 03: .bmp masks

    samples = read_samples("btad", tree.root)

    assert samples[["class_name", "defect_type", "label"]].values.tolist() == [
        ["01", "ko", 1], ["01", "good", 0], ["03", "ko", 1], ["03", "good", 0]]
    assert samples["mask_path"].tolist() == [
        tree.path("01/ground_truth/ko/0000.png"), None, tree.path("03/ground_truth/ko/0001.bmp"), None]


def test_a_ko_image_without_mask_names_the_ground_truth_folder(tree):
    tree.image("02/test/ko/0005.png")

    with pytest.raises(DatasetLayoutError, match=r"1 anomalous image\(s\) have no mask in '.*/02/ground_truth/ko': "
                                                 r"'0005.png'"):
        read_samples("btad", tree.root)
