"""MVTec AD layout, shared by MPDD, DTD-Synthetic, the MVTec-style copy of KolektorSDD and any MVTec-style set.

    <root>/<class>/test/good/000.png                    normal test images
    <root>/<class>/test/<defect>/000.png                anomalous test images, one folder per defect type
    <root>/<class>/ground_truth/<defect>/000_mask.png   their masks ('000.png' is accepted too)
    <root>/<class>/train/good/...                       never read: zero-shot uses the labelled test split only

Only folders holding a `test/` folder are classes, so `license.txt`, `readme.txt` and stray folders are
skipped. A root that itself holds `test/` is read as a single class named after the root folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from datamodules.readers.pairing import (
    DatasetLayoutError,
    absolute_root,
    list_images,
    pair_masks,
    samples_table,
)

EXPECTED = "<class>/test/good/*.png, <class>/test/<defect>/*.png and <class>/ground_truth/<defect>/*_mask.png"


def read_mvtec(root: str | os.PathLike, *, allow_missing_masks: bool = False) -> pd.DataFrame:
    """One row per test image of an MVTec-style dataset; `defect_type` is the test sub-folder name."""
    return read_class_folders(
        root, format_name="mvtec", normal_dir="good", expected=EXPECTED, allow_missing_masks=allow_missing_masks
    )


def read_class_folders(
    root: str | os.PathLike,
    *,
    format_name: str,
    normal_dir: str,
    expected: str,
    allow_missing_masks: bool,
) -> pd.DataFrame:
    """Read `<class>/test/<normal_dir | defect>/` with masks in `<class>/ground_truth/<defect>/`."""
    root_dir = absolute_root(root, format_name, expected)
    if (root_dir / "test").is_dir():
        class_dirs = [root_dir]
    else:
        class_dirs = sorted((d for d in root_dir.iterdir() if (d / "test").is_dir()), key=lambda d: d.name)
    if not class_dirs:
        raise DatasetLayoutError(
            f"no class folder holding a 'test' folder under '{root_dir}'; the {format_name} layout is {expected}. "
            "Fix: pass the folder that holds the class folders (e.g. '.../mvtec_anomaly_detection'), "
            "not a split or defect folder."
        )
    rows: list[tuple] = []
    for class_dir in class_dirs:
        rows += _class_rows(class_dir, normal_dir=normal_dir, allow_missing_masks=allow_missing_masks)
    return samples_table(rows, format_name=format_name, root=root_dir)


def _class_rows(class_dir: Path, *, normal_dir: str, allow_missing_masks: bool) -> list[tuple]:
    test_dir = class_dir / "test"
    rows: list[tuple] = []
    for defect_dir in sorted((d for d in test_dir.iterdir() if d.is_dir()), key=lambda d: d.name):
        images = list_images(defect_dir)
        if defect_dir.name == normal_dir:
            rows += [(image, None, class_dir.name, "good", 0) for image in images]
            continue
        mask_dir = class_dir / "ground_truth" / defect_dir.name
        masks = list_images(mask_dir) if mask_dir.is_dir() else []
        paired = pair_masks(
            images,
            masks,
            mask_folder=mask_dir,
            expected_name="'000_mask.png' or '000.png'",
            allow_missing_masks=allow_missing_masks,
        )
        rows += [(image, mask, class_dir.name, defect_dir.name, 1) for image, mask in zip(images, paired)]
    if not rows:
        raise DatasetLayoutError(
            f"'{test_dir}' holds no test images; expected a '{normal_dir}' folder and one folder per defect type, "
            "each with .png/.jpg/.bmp/.tif images. Fix: re-extract this class from the dataset archive."
        )
    return rows
