"""The two-folder layout of the Kaggle brain tumour sets: `yes/` holds tumour images, `no/` healthy ones.

Shared by `brainmri` and `br35h`. File names are free-form ("Y1.jpg", "1 no.jpeg", "No12.jpg"), with
mixed extensions and spaces, so every image file in the two folders is taken; nothing else is read.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from datamodules.readers.pairing import DatasetLayoutError, case_variant, list_images, samples_table


def read_yes_no_folders(
    folder: Path, *, root: Path, format_name: str, class_name: str, defect_type: str
) -> pd.DataFrame:
    """Rows for `folder/no/*` (label 0, defect "good") and `folder/yes/*` (label 1, `defect_type`), no masks."""
    rows = []
    for subfolder, label in (("no", 0), ("yes", 1)):
        directory = folder / subfolder
        if not directory.is_dir():
            variant = case_variant(directory)
            fix = f"rename '{variant.name}' to '{subfolder}'" if variant else "pass the folder that holds both as root"
            raise DatasetLayoutError(
                f"folder '{directory}' does not exist; the {format_name} layout is yes/ (tumour) and no/ "
                f"(healthy) image folders, names case-sensitive. Fix: {fix}."
            )
        images = list_images(directory)
        if not images:
            raise DatasetLayoutError(f"'{directory}' holds no .jpg/.jpeg/.png images. Fix: re-extract the archive.")
        rows += [(image, None, class_name, defect_type if label else "good", label) for image in images]
    return samples_table(rows, format_name=format_name, root=root)
