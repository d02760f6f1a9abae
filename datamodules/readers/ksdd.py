"""KolektorSDD (KSDD), as distributed in KolektorSDD.zip, or its MVTec-style preprocessed copy.

Native layout, 50 commutators with 7-8 surface images each:

    <root>/kos01/Part0.jpg          the image
    <root>/kos01/Part0_label.bmp    its pixel label, same size; all zero on a defect-free surface

An image is anomalous when its label has any non-zero pixel; every image keeps its label file as mask (an
all-zero label is valid pixel ground truth). The labels, not the images, are opened to decide this: the
layout has no other record of which surfaces are defective. Class name: "electrical commutators".

The preprocessed copy (`SDD/test/good`, `SDD/test/defect`, `SDD/ground_truth/defect/*_mask.png`, class
"SDD") that AdaCLIP's scripts make from the native set (each image cut into thirds, a quarter of the normal
thirds kept for test) is read with the MVTec reader; it is the test set the reference numbers come from.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from datamodules.readers.mvtec import read_class_folders
from datamodules.readers.pairing import (
    DatasetLayoutError,
    absolute_root,
    list_images,
    name_list,
    pairing_key,
    samples_table,
    subfolders,
)

EXPECTED = (
    "kos01/Part0.jpg with kos01/Part0_label.bmp ... (KolektorSDD.zip), or the MVTec-style copy "
    "SDD/test/good, SDD/test/defect, SDD/ground_truth/defect/*_mask.png"
)
CLASS_NAME = "electrical commutators"
_PART_FOLDER = re.compile(r"kos\d+", re.IGNORECASE)


def read_ksdd(root: str | os.PathLike, *, allow_missing_masks: bool = False) -> pd.DataFrame:
    """One row per KolektorSDD surface image, from the native layout or the MVTec-style copy."""
    root_dir = absolute_root(root, "ksdd", EXPECTED)
    part_dirs = [d for d in subfolders(root_dir) if _PART_FOLDER.fullmatch(d.name)]
    if part_dirs:
        return samples_table(
            [row for part_dir in part_dirs for row in _part_rows(part_dir)], format_name="ksdd", root=root_dir
        )
    if (root_dir / "test").is_dir() or any((d / "test").is_dir() for d in root_dir.iterdir() if d.is_dir()):
        return read_class_folders(
            root_dir, format_name="ksdd", normal_dir="good", expected=EXPECTED, allow_missing_masks=allow_missing_masks
        )
    raise DatasetLayoutError(
        f"'{root_dir}' holds neither 'kosNN' folders nor an MVTec-style 'test' folder; expected {EXPECTED}. "
        "Fix: pass the extracted KolektorSDD folder (the one holding kos01 ... kos50) as root."
    )


def _part_rows(part_dir: Path) -> list[tuple]:
    files = list_images(part_dir)
    labels = {pairing_key(p): p for p in files if p.stem.lower().endswith("_label")}
    images = sorted((p for p in files if not p.stem.lower().endswith("_label")), key=lambda p: p.name)
    unlabelled = [image for image in images if pairing_key(image) not in labels]
    if unlabelled:
        # Without its label file an image's class is unknown, so allow_missing_masks cannot help here.
        raise DatasetLayoutError(
            f"{len(unlabelled)} image(s) in '{part_dir}' have no label file: {name_list(unlabelled)}; expected "
            f"'{unlabelled[0].stem}_label.bmp' next to '{unlabelled[0].name}'. Fix: re-extract KolektorSDD.zip."
        )
    rows = []
    for image in images:
        label_path = labels[pairing_key(image)]
        anomalous = _has_defect_pixels(label_path)
        rows.append((image, label_path, CLASS_NAME, "defect" if anomalous else "good", int(anomalous)))
    return rows


def _has_defect_pixels(label_path: Path) -> bool:
    try:
        with Image.open(label_path) as label:
            return bool(np.asarray(label).any())
    except OSError as error:
        raise DatasetLayoutError(
            f"cannot read label file '{label_path}': {error}. Fix: re-extract KolektorSDD.zip."
        ) from error
