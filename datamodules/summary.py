"""`summarize`: per-class counts of a dataset, to check it before a long run."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from datamodules.errors import DatasetLayoutError
from datamodules.image_io import header_size
from datamodules.readers import read_samples


def summarize(format: str, root: str | os.PathLike, *, check_files: bool = False, **options: Any) -> pd.DataFrame:
    """Counts per class of the dataset at `root`: normal images, anomalous images, masks.

    Args:
        format, root, **options: as for `read_samples` (e.g. classes=[...], allow_missing_masks=True).
        check_files: also open every image and mask header (pixels are not decoded) and raise one error
            listing unreadable files and masks whose size differs from their image's.

    Returns:
        Index `class_name` plus a final "total" row; int columns `normal`, `anomalous`, `masks` (rows with a
        mask file). Anomalous images lacking masks show as anomalous > masks.
    """
    samples = read_samples(format, root, **options)
    if check_files:
        _check_files(samples)
    grouped = samples.groupby("class_name", sort=False)
    table = pd.DataFrame(
        {
            "normal": grouped["label"].apply(lambda labels: int((labels == 0).sum())),
            "anomalous": grouped["label"].apply(lambda labels: int((labels == 1).sum())),
            "masks": grouped["mask_path"].apply(lambda masks: int(masks.notna().sum())),
        }
    )
    table.loc["total"] = table.sum()
    table.index.name = "class_name"
    return table.astype("int64")


def _check_files(samples: pd.DataFrame) -> None:
    problems: list[str] = []
    for image_path, mask_path in zip(samples["image_path"], samples["mask_path"]):
        try:
            image_size = header_size(image_path)
            if mask_path is not None:
                mask_size = header_size(mask_path)
                if mask_size != image_size:
                    problems.append(
                        f"mask '{mask_path}' is {mask_size[0]}x{mask_size[1]} but its image '{image_path}' is "
                        f"{image_size[0]}x{image_size[1]}"
                    )
        except DatasetLayoutError as error:
            problems.append(str(error))
    if problems:
        raise DatasetLayoutError(
            f"{len(problems)} problem(s) found in {len(samples)} samples:\n  " + "\n  ".join(problems[:20])
            + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        )


__all__ = ["summarize"]
