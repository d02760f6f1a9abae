"""The paired-folder layout of segmentation sets (CVC polyp sets, TN3K): an image folder and a mask folder
whose files share names. Every image is anomalous, so only pixel-level metrics apply.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from datamodules.readers.pairing import (
    DatasetLayoutError,
    case_variant,
    list_images,
    name_list,
    pair_masks,
    samples_table,
)


def read_image_mask_folders(
    root: Path,
    folder_pairs: list[tuple[str, str]],
    *,
    format_name: str,
    class_name: str,
    defect_type: str,
    allow_missing_masks: bool,
) -> pd.DataFrame:
    """Rows (label 1) for the first (image folder, mask folder) pair of `folder_pairs` found under `root`."""
    found = next(((root / images, root / masks) for images, masks in folder_pairs if (root / images).is_dir()), None)
    if found is None:
        variant = next((v for images, _ in folder_pairs if (v := case_variant(root / images)) is not None), None)
        if variant is not None:
            expected = next(images for images, _ in folder_pairs if images.lower() == variant.name.lower())
            raise DatasetLayoutError(
                f"'{root}' holds '{variant.name}/' where the {format_name} layout has '{expected}/' (names are "
                f"case-sensitive). Fix: rename '{variant}' to '{root / expected}'."
            )
        layouts = " or ".join(f"{images}/ + {masks}/" for images, masks in folder_pairs)
        raise DatasetLayoutError(
            f"'{root}' holds none of the {format_name} layouts {layouts}. "
            "Fix: pass the folder that holds the image and mask folders as root."
        )
    image_dir, mask_dir = found
    images = list_images(image_dir)
    if not images:
        raise DatasetLayoutError(f"'{image_dir}' holds no .png/.jpg/.tif images. Fix: re-extract the archive.")
    if not mask_dir.is_dir() and (variant := case_variant(mask_dir)) is not None:
        raise DatasetLayoutError(
            f"'{root}' holds '{variant.name}/' where the {format_name} layout has '{mask_dir.name}/' (names are "
            f"case-sensitive). Fix: rename '{variant}' to '{mask_dir}'."
        )
    masks = list_images(mask_dir) if mask_dir.is_dir() else []
    if not masks and not allow_missing_masks:
        raise DatasetLayoutError(
            f"mask folder '{mask_dir}' is missing or empty but {format_name} has a mask for each of its "
            f"{len(images)} images (e.g. {name_list(images, 1)}). Fix: extract the masks next to the images."
        )
    paired = pair_masks(
        images, masks, mask_folder=mask_dir, expected_name="'000.png' (same name as the image)",
        allow_missing_masks=allow_missing_masks,
    )
    rows = [(image, mask, class_name, defect_type, 1) for image, mask in zip(images, paired)]
    return samples_table(rows, format_name=format_name, root=root, both_labels=False)
