"""MVTec AD layout, shared by MPDD, DTD-Synthetic, the MVTec-style copy of KolektorSDD and any MVTec-style set.

    <root>/<class>/test/good/000.png                    normal test images
    <root>/<class>/test/<defect>/000.png                anomalous test images, one folder per defect type
    <root>/<class>/ground_truth/<defect>/000_mask.png   their masks ('000.png' is accepted too)
    <root>/<class>/train/good/...                       never read: zero-shot uses the labelled test split only

Only folders holding a `test/` folder are classes, so `license.txt`, `readme.txt` and stray folders are
skipped. A root that itself holds `test/` is read as a single class named after the root folder. Nothing that
looks like data is skipped without a word: a class folder with `Test/` (any case other than `test/`) or a
normal folder named `Good/` is an error saying what to rename; a class folder with only `train/` or
`ground_truth/` is named in a warning, as are files lying directly in `test/`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from datamodules.readers.pairing import (
    DatasetLayoutError,
    absolute_root,
    case_variant,
    list_images,
    pair_masks,
    samples_table,
    subfolders,
    warn_skipped,
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
    _refuse_case_variant(root_dir)
    if (root_dir / "test").is_dir():
        class_dirs = [root_dir]
    else:
        class_dirs, without_test = [], []
        for folder in subfolders(root_dir):
            _refuse_case_variant(folder)
            if (folder / "test").is_dir():
                class_dirs.append(folder)
            elif (folder / "train").is_dir() or (folder / "ground_truth").is_dir():
                without_test.append(folder)
        if class_dirs:
            warn_skipped(
                without_test, root_dir, "classes with a test/ folder (they hold only train/ or ground_truth/)",
                "extract their test/ folders too, or ignore this if the classes were left out on purpose.",
            )
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


def _refuse_case_variant(folder: Path) -> None:
    variant = case_variant(folder / "test")
    if variant is not None:
        raise DatasetLayoutError(
            f"'{folder}' holds '{variant.name}/' where the layout has 'test/'; names are case-sensitive, so this "
            f"class would be skipped. Fix: rename '{variant}' to '{folder / 'test'}'."
        )


def _class_rows(class_dir: Path, *, normal_dir: str, allow_missing_masks: bool) -> list[tuple]:
    test_dir = class_dir / "test"
    rows: list[tuple] = []
    entries = [p for p in test_dir.iterdir() if not p.name.startswith(".")]
    warn_skipped(
        sorted(p for p in entries if not p.is_dir()), test_dir, f"'{normal_dir}' or defect folders",
        f"move test images into test/{normal_dir}/ or test/<defect>/.",
    )
    for defect_dir in subfolders(test_dir):
        if defect_dir.name != normal_dir and defect_dir.name.lower() == normal_dir.lower():
            raise DatasetLayoutError(
                f"'{defect_dir}' would be read as a defect type, since the normal images' folder is '{normal_dir}' "
                f"(case-sensitive). Fix: rename it to '{test_dir / normal_dir}'."
            )
        images = list_images(defect_dir)
        if defect_dir.name == normal_dir:
            rows += [(image, None, class_dir.name, "good", 0) for image in images]
            continue
        mask_dir = class_dir / "ground_truth" / defect_dir.name
        for folder in (mask_dir.parent, mask_dir):
            variant = case_variant(folder)
            if variant is not None:
                raise DatasetLayoutError(
                    f"the masks of '{defect_dir}' belong in '{folder}', but only '{variant}' exists (names are "
                    f"case-sensitive). Fix: rename it to '{folder.name}'."
                )
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
