"""CVC-ColonDB, polyp segmentation (380 colonoscopy frames, as in the PraNet test data). Every frame shows a polyp.

    <root>/images/1.png
    <root>/masks/1.png      same name as its image

Pixel level only: there are no normal frames.
"""

from __future__ import annotations

import os

import pandas as pd

from datamodules.readers.image_mask_folders import read_image_mask_folders
from datamodules.readers.pairing import absolute_root

EXPECTED = "images/*.png and masks/*.png with the same names"
CLASS_NAME = "colon"


def read_colondb(root: str | os.PathLike, *, allow_missing_masks: bool = False) -> pd.DataFrame:
    """One row per frame (label 1, defect "polyp") with its mask."""
    root_dir = absolute_root(root, "colondb", EXPECTED)
    return read_image_mask_folders(
        root_dir, [("images", "masks")], format_name="colondb", class_name=CLASS_NAME, defect_type="polyp",
        allow_missing_masks=allow_missing_masks,
    )
