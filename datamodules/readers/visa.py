"""VisA as extracted from VisA_20220922.tar.

    <root>/split_csv/1cls.csv                 columns object, split, label, image, mask; rows with split == test
    <root>/<object>/Data/Images/Normal/0000.JPG
    <root>/<object>/Data/Images/Anomaly/000.JPG
    <root>/<object>/Data/Masks/Anomaly/000.png  defect index masks: 0 background, 1..N the defect regions

`label` is "normal" or "anomaly"; paths in the csv are relative to the root. The masks hold small defect
indices rather than 255, so they are binarised with != 0 (spec.MASK_THRESHOLDS). The csv has no defect types;
`defect_type` is "good" or "anomaly".
"""

from __future__ import annotations

import os
import warnings

import pandas as pd

from datamodules.readers.pairing import (
    DatasetLayoutError,
    absolute_root,
    name_list,
    pairing_key,
    samples_table,
)

EXPECTED = "split_csv/1cls.csv next to the object folders (candle/Data/Images/..., pcb1/Data/Masks/...)"
CSV_COLUMNS = ("object", "split", "label", "image", "mask")
LABELS = {"normal": 0, "anomaly": 1}


def read_visa(
    root: str | os.PathLike,
    *,
    allow_missing_masks: bool = False,
    split_csv: str = "split_csv/1cls.csv",
) -> pd.DataFrame:
    """One row per test image listed in VisA's `split_csv/1cls.csv`; class names are the csv's `object`."""
    root_dir = absolute_root(root, "visa", EXPECTED)
    csv_path = root_dir / split_csv
    if not csv_path.is_file():
        raise DatasetLayoutError(
            f"split file '{csv_path}' does not exist; VisA_20220922.tar ships it as split_csv/1cls.csv. "
            "Fix: pass the extracted VisA folder (the one holding split_csv/ and candle/) as root."
        )
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    table.columns = [str(column).strip().lower() for column in table.columns]
    absent = [column for column in CSV_COLUMNS if column not in table.columns]
    if absent:
        raise DatasetLayoutError(
            f"'{csv_path}' lacks the column(s) {absent}; expected the header {','.join(CSV_COLUMNS)}. "
            "Fix: use the 1cls.csv from VisA_20220922.tar unchanged."
        )
    table = table.apply(lambda column: column.str.strip())
    test = table[table["split"] == "test"]
    other = sorted(set(table["split"]) - {"train", "test"})
    if other:
        # 1cls.csv has only train and test rows; a split spelt otherwise ('Test') would drop its images.
        warnings.warn(
            f"'{csv_path}' has {int(table['split'].isin(other).sum())} row(s) with split {other}, which are not read "
            "(only split == 'test' is). Fix: use the 1cls.csv from VisA_20220922.tar unchanged.",
            stacklevel=2,
        )
    if test.empty:
        splits = sorted(set(table["split"]))
        raise DatasetLayoutError(f"'{csv_path}' has no rows with split == 'test'; its splits are {splits}.")

    rows, missing_images, missing_masks, misnamed = [], [], [], []
    for line, row in test.iterrows():
        label = LABELS.get(row["label"].lower())
        if label is None:
            raise DatasetLayoutError(
                f"'{csv_path}' line {line + 2}: label '{row['label']}' for '{row['image']}'; "
                "expected 'normal' or 'anomaly'."
            )
        image = root_dir / row["image"]
        if not image.is_file():
            missing_images.append(image)
        mask = None
        if label == 1:
            if row["mask"] and (root_dir / row["mask"]).is_file():
                mask = root_dir / row["mask"]
                if pairing_key(mask) != pairing_key(image):
                    misnamed.append(f"'{row['image']}' -> '{row['mask']}'")
            else:
                missing_masks.append(image)
        rows.append((image, mask, row["object"], "anomaly" if label else "good", label))

    if missing_images:
        raise DatasetLayoutError(
            f"{len(missing_images)} image(s) listed in '{csv_path}' do not exist: {name_list(missing_images)} "
            f"(first: '{missing_images[0]}'). Fix: re-extract VisA_20220922.tar into '{root_dir}'."
        )
    if misnamed:
        raise DatasetLayoutError(
            f"'{csv_path}' pairs images with masks of another name: {', '.join(misnamed[:5])}. "
            "Expected each mask to share its image's name (000.JPG -> 000.png). Fix: restore the original csv."
        )
    if missing_masks and not allow_missing_masks:
        raise DatasetLayoutError(
            f"{len(missing_masks)} anomalous image(s) in '{csv_path}' have no mask file: {name_list(missing_masks)}. "
            "Expected <object>/Data/Masks/Anomaly/<stem>.png. Fix: restore the masks, or pass "
            "allow_missing_masks=True to keep these images without pixel ground truth."
        )
    return samples_table(rows, format_name="visa", root=root_dir)
