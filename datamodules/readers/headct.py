"""Head CT - hemorrhage (Kaggle, felipekitamura/head-ct-hemorrhage). Image-level labels only.

    <root>/labels.csv            columns id, hemorrhage (the header has a space: "id, hemorrhage")
    <root>/head_ct/000.png ...   200 slices named by zero-padded id; the archive nests them as head_ct/head_ct/

Images and csv rows are matched by the number in the file name, so "7" in the csv finds "007.png".
"""

from __future__ import annotations

import os

import pandas as pd

from datamodules.readers.pairing import (
    DatasetLayoutError,
    absolute_root,
    first_existing_dir,
    list_images,
    name_list,
    samples_table,
    warn_skipped,
)

EXPECTED = "labels.csv (id, hemorrhage) and head_ct/000.png ... (or head_ct/head_ct/000.png)"
CLASS_NAME = "headct"


def read_headct(root: str | os.PathLike) -> pd.DataFrame:
    """One row per slice; label = the csv's hemorrhage flag, no masks."""
    root_dir = absolute_root(root, "headct", EXPECTED)
    csv_path = next((p for p in (root_dir / "labels.csv", root_dir / "head_ct" / "labels.csv") if p.is_file()), None)
    if csv_path is None:
        raise DatasetLayoutError(
            f"'{root_dir / 'labels.csv'}' does not exist; expected {EXPECTED}. "
            "Fix: pass the extracted head-ct-hemorrhage folder (the one holding labels.csv) as root."
        )
    image_dir = first_existing_dir([root_dir / "head_ct" / "head_ct", root_dir / "head_ct"])
    if image_dir is None:
        raise DatasetLayoutError(f"'{root_dir / 'head_ct'}' does not exist; expected {EXPECTED}.")

    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    table.columns = [str(column).strip().lower() for column in table.columns]
    if not {"id", "hemorrhage"} <= set(table.columns):
        raise DatasetLayoutError(f"'{csv_path}' has columns {list(table.columns)}; expected 'id, hemorrhage'.")
    flags: dict[int, int] = {}
    for line, (raw_id, raw_flag) in enumerate(zip(table["id"], table["hemorrhage"]), start=2):
        if not raw_id.strip().isdigit() or raw_flag.strip() not in ("0", "1"):
            raise DatasetLayoutError(
                f"'{csv_path}' line {line}: '{raw_id},{raw_flag}'; expected an integer id and a 0/1 hemorrhage flag."
            )
        if int(raw_id) in flags:
            raise DatasetLayoutError(
                f"'{csv_path}' line {line}: id {int(raw_id)} is listed twice, so its label is ambiguous. "
                "Fix: re-extract labels.csv from the archive."
            )
        flags[int(raw_id)] = int(raw_flag.strip())

    listed = list_images(image_dir, folders_expected=True)  # head_ct/ may hold the nested head_ct/ copy
    images = {int(p.stem): p for p in listed if p.stem.isdigit()}
    # The csv knows slices only by number; any other image could never get a label.
    warn_skipped(
        [p for p in listed if not p.stem.isdigit()], image_dir, "slices named by their csv id (000.png)",
        "rename them to their id in labels.csv, or move them out.",
    )
    unlabelled = [images[i] for i in sorted(set(images) - set(flags))]
    missing = sorted(set(flags) - set(images))
    if unlabelled or missing:
        raise DatasetLayoutError(
            f"'{csv_path}' and '{image_dir}' disagree: images without a csv row {name_list(unlabelled) or 'none'}; "
            f"csv ids without an image {missing[:5] or 'none'}. Fix: re-extract the archive."
        )
    rows = [
        (images[i], None, CLASS_NAME, "hemorrhage" if flags[i] else "good", flags[i]) for i in sorted(images)
    ]
    return samples_table(rows, format_name="headct", root=root_dir)
