"""Br35H :: Brain Tumor Detection 2020 (Kaggle, ahmedhamada0). Image-level labels only.

    <root>/yes/y0.jpg ...   1500 tumour images
    <root>/no/no0.jpg ...   1500 healthy images
    <root>/pred/pred0.jpg   60 unlabelled images: never read, they have no ground truth
"""

from __future__ import annotations

import os

import pandas as pd

from datamodules.readers.pairing import absolute_root
from datamodules.readers.yes_no_folders import read_yes_no_folders

EXPECTED = "yes/*.jpg (tumour) and no/*.jpg (healthy); pred/ is ignored"
CLASS_NAME = "br35h"


def read_br35h(root: str | os.PathLike) -> pd.DataFrame:
    """One row per labelled image: yes/ -> label 1 ("tumor"), no/ -> label 0."""
    root_dir = absolute_root(root, "br35h", EXPECTED)
    return read_yes_no_folders(root_dir, root=root_dir, format_name="br35h", class_name=CLASS_NAME, defect_type="tumor")
