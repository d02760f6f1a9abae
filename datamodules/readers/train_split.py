"""The normal training images of the layouts that have a training split: the few-shot reference pool.

    mvtec (also MPDD, DTD-Synthetic, the MVTec-style SDD)   <class>/train/good/*
    btad                                                    <class>/train/ok/*
    visa                                                    split_csv/1cls.csv rows with split == train, label normal
    dagm                                                    <class>/Train/* without a label image (Labels.txt flag 0)
    meta_json                                               meta.json "train" entries with anomaly 0

The other layouts (ksdd native, headct, brainmri, br35h, isic, colondb, clinicdb, tn3k, folder, images) have no
training split: few-shot draws their references from the normal test images instead. A class of a layout with a
split but without its train folder gets None too (the caller falls back, per class).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from datamodules.readers.pairing import (
    DatasetLayoutError,
    absolute_root,
    first_existing_dir,
    list_images,
    samples_table,
    subfolders,
)


def _class_folder_train(root: str | os.PathLike, format_name: str, normal_dir: str) -> list[tuple]:
    root_dir = absolute_root(root, format_name, f"<class>/train/{normal_dir}/*")
    class_dirs = [root_dir] if (root_dir / "test").is_dir() else [d for d in subfolders(root_dir) if (d / "test").is_dir()]
    rows = []
    for class_dir in class_dirs:
        train_dir = class_dir / "train" / normal_dir
        if train_dir.is_dir():
            rows += [(image, None, class_dir.name, "good", 0) for image in list_images(train_dir)]
    return rows


def _mvtec(root: str | os.PathLike, **_: Any) -> list[tuple]:
    return _class_folder_train(root, "mvtec", "good")


def _btad(root: str | os.PathLike, **_: Any) -> list[tuple]:
    return _class_folder_train(root, "btad", "ok")


def _visa(root: str | os.PathLike, *, split_csv: str = "split_csv/1cls.csv", **_: Any) -> list[tuple]:
    root_dir = absolute_root(root, "visa", "split_csv/1cls.csv")
    table = pd.read_csv(root_dir / split_csv, dtype=str, keep_default_na=False)
    table.columns = [str(column).strip().lower() for column in table.columns]
    table = table.apply(lambda column: column.str.strip())
    train = table[(table["split"] == "train") & (table["label"].str.lower() == "normal")]
    missing = [row["image"] for _, row in train.iterrows() if not (root_dir / row["image"]).is_file()]
    if missing:
        raise DatasetLayoutError(
            f"{len(missing)} training image(s) listed in '{root_dir / split_csv}' do not exist (first: '{missing[0]}'). "
            f"Fix: re-extract VisA_20220922.tar into '{root_dir}'."
        )
    return [(root_dir / row["image"], None, row["object"], "good", 0) for _, row in train.iterrows()]


def _dagm(root: str | os.PathLike, **_: Any) -> list[tuple]:
    from datamodules.readers.dagm import _class_rows  # one definition of what makes a DAGM image defective

    root_dir = absolute_root(root, "dagm", "Class1/Train/*.PNG")
    rows = []
    for class_dir in subfolders(root_dir):
        train_dir = first_existing_dir([class_dir / "Train", class_dir / "train", class_dir / class_dir.name / "Train"])
        if train_dir is not None:
            rows += [row for row in _class_rows(class_dir.name, train_dir, allow_missing_masks=True) if row[4] == 0]
    return rows


def _meta_json(root: str | os.PathLike, *, file_name: str = "meta.json", **_: Any) -> list[tuple]:
    root_dir = absolute_root(root, "meta_json", "meta.json")
    meta = json.loads((root_dir / file_name).read_text(encoding="utf-8"))
    split = next((meta[key] for key in ("train", "Train") if isinstance(meta.get(key), dict)), {})
    rows = []
    for entries in split.values():
        for entry in entries:
            if isinstance(entry, dict) and entry.get("anomaly") in (0, "0"):
                rows.append((root_dir / entry["img_path"], None, entry["cls_name"], "good", 0))
    return rows


TRAIN_SPLITS: dict[str, Callable[..., list[tuple]]] = {
    "mvtec": _mvtec,
    "btad": _btad,
    "visa": _visa,
    "dagm": _dagm,
    "meta_json": _meta_json,
}


def read_train_normals(format: str, root: str | os.PathLike, **options: Any) -> Optional[pd.DataFrame]:
    """The normal training images as a samples table (label 0, no masks), or None when the layout has no
    training split or this copy holds none (e.g. MVTec extracted without train/)."""
    reader = TRAIN_SPLITS.get(format)
    if reader is None:
        return None
    rows = reader(root, **options)
    if not rows:
        return None
    return samples_table(rows, format_name=format, root=Path(os.path.abspath(os.path.expanduser(str(root)))), both_labels=False)
