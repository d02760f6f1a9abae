"""Unlabelled images to score (`predict`): a folder of images, or a folder of class folders.

    <root>/*.png                 one class, named by class_name or by the root folder
    <root>/<class>/*.png         one class per sub-folder, named by the sub-folder

Labels are unknown (-1) and there are no masks, so such a set can be predicted, never evaluated.
"""

from __future__ import annotations

import os
from typing import Optional

import pandas as pd

from datamodules.readers.pairing import (
    DatasetLayoutError,
    absolute_root,
    check_class_names,
    list_images,
    name_list,
    subfolders,
)

EXPECTED = "image files (.png/.jpg/.bmp/.tif) directly inside it, or one sub-folder of images per class"
UNKNOWN_LABEL = -1


def read_images(root: str | os.PathLike, *, class_name: Optional[str] = None) -> pd.DataFrame:
    """One row per image, label -1 (unknown), no masks; defect_type "unknown"."""
    root_dir = absolute_root(root, "images", EXPECTED)
    direct = list_images(root_dir, folders_expected=True)  # sub-folders are classes, not skipped data
    class_folders = [folder for folder in subfolders(root_dir) if list_images(folder)]
    if direct and class_folders:
        raise DatasetLayoutError(
            f"'{root_dir}' holds both images ({name_list(direct)}) and class folders with images "
            f"({name_list(class_folders)}); expected one of the two. Fix: move the loose images into a class folder."
        )
    if direct:
        rows = [(str(path), class_name or root_dir.name) for path in direct]
    elif class_folders:
        if class_name is not None:
            raise DatasetLayoutError(
                f"class_name '{class_name}' was given but '{root_dir}' has one folder per class "
                f"({name_list(class_folders)}), which name the classes. Fix: drop class_name, or point root at one folder."
            )
        rows = [(str(path), folder.name) for folder in class_folders for path in list_images(folder)]
    else:
        raise DatasetLayoutError(f"no images in '{root_dir}'; expected {EXPECTED}.")
    check_class_names([name for _, name in rows], root_dir)
    return pd.DataFrame(
        {
            "image_path": pd.Series([path for path, _ in rows], dtype=str),
            "mask_path": pd.Series([None] * len(rows), dtype=object),
            "class_name": pd.Series([name for _, name in rows], dtype=str),
            "defect_type": pd.Series(["unknown"] * len(rows), dtype=str),
            "label": pd.Series([UNKNOWN_LABEL] * len(rows), dtype="int64"),
        }
    )
