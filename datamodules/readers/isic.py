"""ISIC 2016 (ISBI challenge) part 1, lesion segmentation, test set. Every image shows a lesion.

    <root>/ISBI2016_ISIC_Part1_Test_Data/ISIC_0000003.jpg
    <root>/ISBI2016_ISIC_Part1_Test_GroundTruth/ISIC_0000003_Segmentation.png

Both folders may also be merged into the root. Only `ISIC_<digits>` images and `ISIC_<digits>_Segmentation`
masks are taken, so other files of the ISIC archives (e.g. `_superpixels`) are ignored. Pixel level only:
there are no normal images, so image-level metrics are undefined.
"""

from __future__ import annotations

import os
import re

import pandas as pd

from datamodules.readers.pairing import (
    DatasetLayoutError,
    absolute_root,
    first_existing_dir,
    list_images,
    pair_masks,
    samples_table,
    warn_skipped,
)

EXPECTED = (
    "ISBI2016_ISIC_Part1_Test_Data/ISIC_*.jpg and ISBI2016_ISIC_Part1_Test_GroundTruth/ISIC_*_Segmentation.png"
)
CLASS_NAME = "isic"
_IMAGE = re.compile(r"ISIC_\d+")
_MASK = re.compile(r"ISIC_\d+_Segmentation")
_OTHER_ANNOTATION = re.compile(r"ISIC_\d+_\w+")  # e.g. `_superpixels` of the same archives: never test data


def read_isic(root: str | os.PathLike, *, allow_missing_masks: bool = False) -> pd.DataFrame:
    """One row per lesion image (label 1, defect "lesion") with its segmentation mask."""
    root_dir = absolute_root(root, "isic", EXPECTED)
    image_dir = first_existing_dir([root_dir / "ISBI2016_ISIC_Part1_Test_Data"]) or root_dir
    mask_dir = first_existing_dir([root_dir / "ISBI2016_ISIC_Part1_Test_GroundTruth"]) or root_dir
    in_image_dir = list_images(image_dir, folders_expected=image_dir == root_dir)
    in_mask_dir = in_image_dir if mask_dir == image_dir else list_images(mask_dir, folders_expected=mask_dir == root_dir)
    images = [p for p in in_image_dir if _IMAGE.fullmatch(p.stem)]
    masks = [p for p in in_mask_dir if _MASK.fullmatch(p.stem)]
    known = {*images, *masks}
    warn_skipped(
        sorted({p for p in in_image_dir + in_mask_dir if p not in known and not _OTHER_ANNOTATION.fullmatch(p.stem)}),
        image_dir, "ISIC_<digits> images or ISIC_<digits>_Segmentation masks",
        "rename them as the ISIC archives do, or move them out.",
    )
    if not images:
        raise DatasetLayoutError(
            f"no ISIC_<digits>.jpg images in '{image_dir}'; expected {EXPECTED}. "
            "Fix: extract both ISBI2016 part 1 test archives into root."
        )
    paired = pair_masks(
        images, masks, mask_folder=mask_dir, expected_name="'ISIC_0000003_Segmentation.png'",
        allow_missing_masks=allow_missing_masks,
    )
    rows = [(image, mask, CLASS_NAME, "lesion", 1) for image, mask in zip(images, paired)]
    return samples_table(rows, format_name="isic", root=root_dir, both_labels=False)
