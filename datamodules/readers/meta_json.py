"""The `meta.json` index of AdaCLIP / AnomalyCLIP (and the reference), for datasets already prepared that way.

    <root>/meta.json = {"train": {...}, "test": {"<class>": [
        {"img_path": "bottle/test/broken_large/000.png", "mask_path": "bottle/ground_truth/broken_large/000_mask.png",
         "cls_name": "bottle", "specie_name": "broken_large", "anomaly": 1}, ...]}}

Paths are relative to the root (absolute ones are kept); "Test" is accepted for "test"; normal entries have
an empty `mask_path`. Two deviations from how the reference consumes this file, both deliberate:
- an anomalous entry whose mask is empty or missing is an error (the reference silently uses an all-zero
  mask, which counts every pixel of a defective image as normal);
- AdaCLIP's scripts pair masks to images by sorted position, so a mask whose name differs from its image's
  (after removing `_mask` etc.) is an error unless `check_mask_names=False`.
Entries repeating an image path are dropped (the reference reads some classes twice).
"""

from __future__ import annotations

import json
import os

import pandas as pd

from datamodules.readers.pairing import DatasetLayoutError, absolute_root, name_list, pairing_key, samples_table

EXPECTED = "meta.json with a 'test' map of class -> entries (img_path, mask_path, cls_name, specie_name, anomaly)"
ENTRY_FIELDS = ("img_path", "mask_path", "cls_name", "specie_name", "anomaly")


def read_meta_json(
    root: str | os.PathLike,
    *,
    allow_missing_masks: bool = False,
    check_mask_names: bool = True,
    file_name: str = "meta.json",
) -> pd.DataFrame:
    """One row per test entry of `<root>/meta.json`; class names are the entries' `cls_name`."""
    root_dir = absolute_root(root, "meta_json", EXPECTED)
    meta_path = root_dir / file_name
    if not meta_path.is_file():
        raise DatasetLayoutError(
            f"'{meta_path}' does not exist; expected {EXPECTED}. Fix: pass the folder holding meta.json as root, "
            "or use the reader of the dataset's native layout instead."
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DatasetLayoutError(f"'{meta_path}' is not valid JSON: {error}.") from error
    split_key = next((key for key in ("test", "Test") if isinstance(meta, dict) and key in meta), None)
    if split_key is None or not isinstance(meta[split_key], dict):
        found = list(meta) if isinstance(meta, dict) else type(meta).__name__
        raise DatasetLayoutError(f"'{meta_path}' has no 'test' map of class -> entries (found {found}).")

    rows, missing_images, missing_masks, misnamed = [], [], [], []
    for class_key, entries in meta[split_key].items():
        for position, entry in enumerate(entries):
            where = f"'{meta_path}' test/{class_key}[{position}]"
            absent = [name for name in ENTRY_FIELDS if name not in entry] if isinstance(entry, dict) else ENTRY_FIELDS
            if absent:
                raise DatasetLayoutError(f"{where} lacks {list(absent)}; each entry needs {', '.join(ENTRY_FIELDS)}.")
            # Compared, not converted: int("true") would be a raw ValueError and int(0.5) a silent 0.
            if entry["anomaly"] not in (0, 1, "0", "1"):
                raise DatasetLayoutError(f"{where}: anomaly is {entry['anomaly']!r}; expected 0 or 1.")
            anomaly = int(entry["anomaly"])
            image = root_dir / entry["img_path"]  # an absolute img_path replaces root_dir
            if not image.is_file():
                missing_images.append(image)
            mask = None
            if anomaly:
                mask = root_dir / entry["mask_path"] if entry["mask_path"] else None
                if mask is None or not mask.is_file():
                    missing_masks.append(image)
                    mask = None
                elif check_mask_names and pairing_key(mask) != pairing_key(image):
                    misnamed.append(f"'{entry['img_path']}' -> '{entry['mask_path']}'")
            defect = (entry["specie_name"] or "anomaly") if anomaly else "good"
            rows.append((image, mask, entry["cls_name"], defect, anomaly))

    if missing_images:
        raise DatasetLayoutError(
            f"{len(missing_images)} image(s) listed in '{meta_path}' do not exist: {name_list(missing_images)} "
            f"(first: '{missing_images[0]}'). Fix: make root the folder the img_path entries are relative to."
        )
    if misnamed:
        raise DatasetLayoutError(
            f"'{meta_path}' pairs images with masks of another name: {', '.join(misnamed[:5])}"
            f"{' ...' if len(misnamed) > 5 else ''}; meta.json scripts pair by sorted position, so these are "
            "probably mispaired. Fix: regenerate meta.json, read the native layout instead, or pass "
            "check_mask_names=False if the names legitimately differ."
        )
    if missing_masks and not allow_missing_masks:
        raise DatasetLayoutError(
            f"{len(missing_masks)} anomalous entr(y/ies) in '{meta_path}' have an empty or missing mask_path: "
            f"{name_list(missing_masks)}. Fix: restore the masks, or pass allow_missing_masks=True to keep these "
            "images without pixel ground truth."
        )
    return samples_table(rows, format_name="meta_json", root=root_dir)
