"""TN3K, thyroid nodule segmentation in ultrasound, test split. Every image shows a nodule.

    <root>/test-image/0000.jpg
    <root>/test-mask/0000.jpg     JPEG masks: compression noise around 0 and 255, binarised > 127
    <root>/trainval-image/, trainval-mask/   never read

The root may also be the folder above `tn3k/` (e.g. 'Thyroid Dataset'). Pixel level only.
"""

from __future__ import annotations

import os

import pandas as pd

from datamodules.readers.image_mask_folders import read_image_mask_folders
from datamodules.readers.pairing import absolute_root

EXPECTED = "test-image/*.jpg and test-mask/*.jpg with the same names"
CLASS_NAME = "tn3k"


def read_tn3k(root: str | os.PathLike, *, allow_missing_masks: bool = False) -> pd.DataFrame:
    """One row per test image (label 1, defect "nodule") with its mask."""
    root_dir = absolute_root(root, "tn3k", EXPECTED)
    folder = root_dir / "tn3k" if not (root_dir / "test-image").is_dir() and (root_dir / "tn3k").is_dir() else root_dir
    return read_image_mask_folders(
        folder, [("test-image", "test-mask")], format_name="tn3k", class_name=CLASS_NAME, defect_type="nodule",
        allow_missing_masks=allow_missing_masks,
    )
