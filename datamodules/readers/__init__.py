"""Readers: one module per dataset layout, each turning a root folder into a samples table.

A samples table is a pandas DataFrame with one row per test image and the columns
    image_path   absolute path of the image
    mask_path    absolute path of its pixel ground truth, None when the image has none
    class_name   the dataset's own class name ('metal_nut', 'pcb1', 'Class3'); prompt names are in class_names.py
    defect_type  "good" for every normal image, else the dataset's defect name ('broken_large', 'ko', 'tumor')
    label        int64, 0 normal / 1 anomalous
Reading a table lists folders and label files; it never decodes an image (KolektorSDD's label images are the
one exception, since they are the only record of which surfaces are defective).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from typing import Any, Optional

import pandas as pd

from datamodules.errors import DatasetLayoutError
from datamodules.readers.br35h import read_br35h
from datamodules.readers.brainmri import read_brainmri
from datamodules.readers.btad import read_btad
from datamodules.readers.clinicdb import read_clinicdb
from datamodules.readers.colondb import read_colondb
from datamodules.readers.dagm import read_dagm
from datamodules.readers.folder import read_folder
from datamodules.readers.headct import read_headct
from datamodules.readers.isic import read_isic
from datamodules.readers.ksdd import read_ksdd
from datamodules.readers.meta_json import read_meta_json
from datamodules.readers.mvtec import read_mvtec
from datamodules.readers.pairing import SAMPLE_COLUMNS
from datamodules.readers.tn3k import read_tn3k
from datamodules.readers.visa import read_visa

READERS: dict[str, Callable[..., pd.DataFrame]] = {
    "mvtec": read_mvtec,
    "visa": read_visa,
    "btad": read_btad,
    "ksdd": read_ksdd,
    "dagm": read_dagm,
    "headct": read_headct,
    "brainmri": read_brainmri,
    "br35h": read_br35h,
    "isic": read_isic,
    "colondb": read_colondb,
    "clinicdb": read_clinicdb,
    "tn3k": read_tn3k,
    "meta_json": read_meta_json,
    "folder": read_folder,
    "images": __import__("datamodules.readers.images", fromlist=["read_images"]).read_images,  # unlabelled, predict only
}
FORMATS = tuple(READERS)

__all__ = ["FORMATS", "READERS", "SAMPLE_COLUMNS", "DatasetLayoutError", "read_samples"]


def read_samples(
    format: str,
    root: str | os.PathLike,
    *,
    classes: Optional[Sequence[str]] = None,
    **options: Any,
) -> pd.DataFrame:
    """The samples table of the dataset at `root` in layout `format`.

    Args:
        format: one of FORMATS ("mvtec", "visa", ...).
        root: the dataset folder as its authors distribute it.
        classes: keep only these classes (by `class_name`); an unknown name is an error listing the known ones.
        **options: passed to the reader, e.g. allow_missing_masks=True, or normal_dir=... for "folder".

    Returns:
        One row per test image, columns SAMPLE_COLUMNS, index 0..n-1 (the `index` of the batches).
    """
    if format not in READERS:
        raise DatasetLayoutError(f"unknown dataset format '{format}'; expected one of {', '.join(FORMATS)}.")
    reader = READERS[format]
    accepted = inspect.signature(reader).parameters
    if "allow_missing_masks" in options and "allow_missing_masks" not in accepted:
        # Image-level layouts have no masks to miss; only a request to allow them needs the user's attention.
        if options.pop("allow_missing_masks"):
            raise DatasetLayoutError(f"format '{format}' has no masks, so allow_missing_masks=True does not apply.")
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        allowed = [name for name, p in accepted.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        raise DatasetLayoutError(f"format '{format}' takes no option(s) {unknown}; its options are {allowed}.")
    table = reader(root, **options)
    if classes is not None:
        known = sorted(set(table["class_name"]))
        absent = [name for name in classes if name not in known]
        if absent:
            raise DatasetLayoutError(
                f"class(es) {absent} not found under '{root}' ({format}); its classes are {known}."
            )
        table = table[table["class_name"].isin(list(classes))].reset_index(drop=True)
    return table
