"""`summarize`: per-class counts of a dataset, to check it before a long run."""

from __future__ import annotations

import os
import warnings
from typing import Any, Optional

import pandas as pd

from datamodules.errors import DatasetLayoutError
from datamodules.image_io import check_mask_size, empty_mask_message, mask_is_empty, read_image, read_mask
from datamodules.readers import read_samples
from datamodules.spec import MASK_THRESHOLDS


def summarize(
    format: str,
    root: str | os.PathLike,
    *,
    check_files: bool = False,
    mask_threshold: Optional[int] = None,
    **options: Any,
) -> pd.DataFrame:
    """Counts per class of the dataset at `root`: normal images, anomalous images, masks.

    Args:
        format, root, **options: as for `read_samples` (e.g. classes=[...], allow_missing_masks=True).
        check_files: also decode every image and mask completely, as training and testing will, and raise one
            error listing unreadable or truncated files and masks whose size differs from their image's; masks
            of anomalous images that have no anomalous pixel are counted in an `empty_masks` column and named
            in a warning (the images stay usable for image metrics).
        mask_threshold: mask pixels above it are anomalous (for the empty-mask check); default per format
            (`spec.MASK_THRESHOLDS`, else 0).

    Returns:
        Index `class_name` plus a final "total" row; int columns `normal`, `anomalous`, `masks` (rows with a
        mask file), and with check_files `empty_masks`; unlabelled sets (format "images") start with `unlabelled`. Anomalous images lacking masks show as anomalous > masks.
    """
    samples = read_samples(format, root, **options)
    grouped = samples.groupby("class_name", sort=False)
    table = pd.DataFrame(
        {
            "normal": grouped["label"].apply(lambda labels: int((labels == 0).sum())),
            "anomalous": grouped["label"].apply(lambda labels: int((labels == 1).sum())),
            "masks": grouped["mask_path"].apply(lambda masks: int(masks.notna().sum())),
        }
    )
    if (samples["label"] < 0).any():
        # Unlabelled sets (the `images` format, for predict) are neither normal nor anomalous: count them as such.
        table.insert(0, "unlabelled", grouped["label"].apply(lambda labels: int((labels < 0).sum())))
    if check_files:
        threshold = MASK_THRESHOLDS.get(format, 0) if mask_threshold is None else mask_threshold
        empty = _check_files(samples, threshold)
        table["empty_masks"] = [int(sum(name == class_name for name in empty)) for class_name in table.index]
    table.loc["total"] = table.sum()
    table.index.name = "class_name"
    return table.astype("int64")


def _check_files(samples: pd.DataFrame, threshold: int) -> list[str]:
    """Decode every file; raise listing the problems; return the class of each anomalous image with an empty mask."""
    problems: list[str] = []
    empty: list[tuple[str, str]] = []  # (class name, message)
    for image_path, mask_path, class_name, label in zip(
        samples["image_path"], samples["mask_path"], samples["class_name"], samples["label"]
    ):
        try:
            image = read_image(image_path)
            if mask_path is not None:
                mask = read_mask(mask_path, threshold)
                check_mask_size(mask, image, mask_path, image_path)
                if label == 1 and mask_is_empty(mask):
                    empty.append((class_name, empty_mask_message(mask_path, image_path, threshold)))
        except DatasetLayoutError as error:
            problems.append(str(error))
    if problems:
        raise DatasetLayoutError(
            f"{len(problems)} problem(s) found in {len(samples)} samples:\n  " + "\n  ".join(problems[:20])
            + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        )
    if empty:
        messages = [message for _, message in empty]
        warnings.warn(
            f"{len(empty)} anomalous image(s) have an empty mask:\n  " + "\n  ".join(messages[:20])
            + (f"\n  ... and {len(messages) - 20} more" if len(messages) > 20 else ""),
            stacklevel=3,
        )
    return [class_name for class_name, _ in empty]


__all__ = ["summarize"]
