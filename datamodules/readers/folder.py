"""A generic layout for users' own data: a folder of normal images, a folder of anomalous ones, and
optionally a folder of masks named like the anomalous images.

    <root>/<normal_dir>/*.png       label 0
    <root>/<anomalous_dir>/*.png    label 1, defect type = anomalous_dir's name
    <root>/<mask_dir>/*.png         optional: '<stem>.png' or '<stem>_mask.png' per anomalous image

All three are paths relative to the root (absolute paths work too). With a mask folder every anomalous image
needs its mask (unless allow_missing_masks); without one the set is image-level only.
"""

from __future__ import annotations

import os
from typing import Optional

import pandas as pd

from datamodules.readers.pairing import (
    DatasetLayoutError,
    absolute_root,
    list_images,
    pair_masks,
    require_dir,
    samples_table,
)

EXPECTED = "<normal_dir>/*.png and <anomalous_dir>/*.png, optionally <mask_dir>/*.png"


def read_folder(
    root: str | os.PathLike,
    *,
    normal_dir: Optional[str] = "normal",
    anomalous_dir: Optional[str] = "anomalous",
    mask_dir: Optional[str] = None,
    class_name: Optional[str] = None,
    allow_missing_masks: bool = False,
) -> pd.DataFrame:
    """One row per image of `normal_dir` and `anomalous_dir`; class name defaults to the root folder's name."""
    root_dir = absolute_root(root, "folder", EXPECTED)
    if normal_dir is None and anomalous_dir is None:
        raise DatasetLayoutError("the folder reader needs normal_dir, anomalous_dir or both; both are None.")
    given = {argument: (root_dir / value).resolve() for argument, value in
             (("normal_dir", normal_dir), ("anomalous_dir", anomalous_dir), ("mask_dir", mask_dir)) if value is not None}
    for first, second in (("normal_dir", "anomalous_dir"), ("normal_dir", "mask_dir"), ("anomalous_dir", "mask_dir")):
        if first in given and given.get(second) == given[first]:
            # The same images read twice under two roles would count as both labels, or as their own masks.
            raise DatasetLayoutError(
                f"{first} and {second} are the same folder '{given[first]}'; each role needs its own folder. "
                f"Fix: point {second} at the folder that holds the {second.removesuffix('_dir')} images."
            )
    name = class_name or root_dir.name
    fix = "pass normal_dir / anomalous_dir / mask_dir relative to root, or None for a folder you do not have."
    rows: list[tuple] = []
    if normal_dir is not None:
        normal_images = list_images(require_dir(root_dir / normal_dir, "the normal images", fix))
        rows += [(image, None, name, "good", 0) for image in normal_images]
    if anomalous_dir is not None:
        anomalous_path = require_dir(root_dir / anomalous_dir, "the anomalous images", fix)
        images = list_images(anomalous_path)
        if mask_dir is None:
            masks = [None] * len(images)
        else:
            mask_path = require_dir(root_dir / mask_dir, "the masks of the anomalous images", fix)
            masks = pair_masks(
                images, list_images(mask_path), mask_folder=mask_path,
                expected_name="'000.png' or '000_mask.png'", allow_missing_masks=allow_missing_masks,
            )
        rows += [(image, mask, name, anomalous_path.name, 1) for image, mask in zip(images, masks)]
    if not rows:
        raise DatasetLayoutError(f"no .png/.jpg/.bmp/.tif images in the folders given under '{root_dir}'.")
    return samples_table(
        rows, format_name="folder", root=root_dir, both_labels=normal_dir is not None and anomalous_dir is not None
    )
