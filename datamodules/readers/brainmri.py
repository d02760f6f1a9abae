"""Brain MRI Images for Brain Tumor Detection (Kaggle, navoneel). Image-level labels only.

    <root>/yes/Y1.jpg ...   155 tumour images
    <root>/no/1 no.jpeg ... 98 healthy images (spaces in names, .jpg/.jpeg/.JPG/.png mixed)

The archive also holds the same images again under `brain_tumor_dataset/yes|no`; that copy is read only when
the root has no yes/ and no/ of its own, so no image is counted twice.
"""

from __future__ import annotations

import os

import pandas as pd

from datamodules.readers.pairing import absolute_root
from datamodules.readers.yes_no_folders import read_yes_no_folders

EXPECTED = "yes/*.jpg (tumour) and no/*.jpg (healthy), or brain_tumor_dataset/yes and brain_tumor_dataset/no"
CLASS_NAME = "brain_mri"


def read_brainmri(root: str | os.PathLike) -> pd.DataFrame:
    """One row per MRI slice: yes/ -> label 1 ("tumor"), no/ -> label 0."""
    root_dir = absolute_root(root, "brainmri", EXPECTED)
    has_own = (root_dir / "yes").is_dir() or (root_dir / "no").is_dir()
    archive_copy = root_dir / "brain_tumor_dataset"
    folder = archive_copy if not has_own and archive_copy.is_dir() else root_dir
    return read_yes_no_folders(
        folder, root=root_dir, format_name="brainmri", class_name=CLASS_NAME, defect_type="tumor"
    )
