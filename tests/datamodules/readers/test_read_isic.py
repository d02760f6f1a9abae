"""ISIC 2016 part 1 test: ISIC_*.jpg with ISIC_*_Segmentation.png; all anomalous."""

from __future__ import annotations

import pytest

from datamodules import DatasetLayoutError, read_samples

IMAGES, MASKS = "ISBI2016_ISIC_Part1_Test_Data", "ISBI2016_ISIC_Part1_Test_GroundTruth"


def test_images_pair_with_their_segmentation_masks(tree):
    tree.image(f"{IMAGES}/ISIC_0000003.jpg")
    tree.image(f"{IMAGES}/ISIC_0000012.jpg")
    tree.image(f"{IMAGES}/ISIC_0000012_superpixels.png")  # other ISIC files are not test images
    tree.mask(f"{MASKS}/ISIC_0000012_Segmentation.png")
    tree.mask(f"{MASKS}/ISIC_0000003_Segmentation.png")

    samples = read_samples("isic", tree.root)

    assert samples.to_dict("records") == [
        dict(image_path=tree.path(f"{IMAGES}/ISIC_0000003.jpg"),
             mask_path=tree.path(f"{MASKS}/ISIC_0000003_Segmentation.png"), class_name="isic",
             defect_type="lesion", label=1),
        dict(image_path=tree.path(f"{IMAGES}/ISIC_0000012.jpg"),
             mask_path=tree.path(f"{MASKS}/ISIC_0000012_Segmentation.png"), class_name="isic",
             defect_type="lesion", label=1),
    ]


def test_images_and_masks_in_one_folder_work_too(tree):
    tree.image("ISIC_0000003.jpg")
    tree.mask("ISIC_0000003_Segmentation.png")

    assert read_samples("isic", tree.root)["mask_path"].tolist() == [tree.path("ISIC_0000003_Segmentation.png")]


def test_an_image_without_mask_is_an_error_unless_allowed(tree):
    tree.image(f"{IMAGES}/ISIC_0000003.jpg")
    tree.image(f"{IMAGES}/ISIC_0000004.jpg")
    tree.mask(f"{MASKS}/ISIC_0000003_Segmentation.png")

    with pytest.raises(DatasetLayoutError, match=r"1 anomalous image\(s\) have no mask .*: 'ISIC_0000004.jpg'. "
                                                 r"Expected the mask of '000.png' to be named 'ISIC_0000003_Segm"):
        read_samples("isic", tree.root)
    assert read_samples("isic", tree.root, allow_missing_masks=True)["mask_path"].isna().tolist() == [False, True]
