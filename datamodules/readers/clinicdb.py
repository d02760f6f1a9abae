"""CVC-ClinicDB, polyp segmentation (612 colonoscopy frames). Every frame shows a polyp.

    <root>/images/1.png  + <root>/masks/1.png             the PraNet / Kaggle copy
    <root>/Original/1.tif + <root>/Ground Truth/1.tif     the authors' archive

Masks share their image's name. Pixel level only: there are no normal frames.
"""

from __future__ import annotations

import os

import pandas as pd

from datamodules.readers.image_mask_folders import read_image_mask_folders
from datamodules.readers.pairing import absolute_root

EXPECTED = "images/ + masks/ (PNG copy) or Original/ + 'Ground Truth'/ (TIFF archive), same file names"
CLASS_NAME = "ClinicDB"


def read_clinicdb(root: str | os.PathLike, *, allow_missing_masks: bool = False) -> pd.DataFrame:
    """One row per frame (label 1, defect "polyp") with its mask."""
    root_dir = absolute_root(root, "clinicdb", EXPECTED)
    return read_image_mask_folders(
        root_dir, [("images", "masks"), ("Original", "Ground Truth")], format_name="clinicdb",
        class_name=CLASS_NAME, defect_type="polyp", allow_missing_masks=allow_missing_masks,
    )
