"""DAGM 2007 (Weakly Supervised Learning for Industrial Optical Inspection), Class1 ... Class10.

    <root>/Class1/Test/0001.PNG                 test images, defective or not
    <root>/Class1/Test/Label/0002_label.PNG     a label image, only for the defective ones
    <root>/Class1/Test/Label/Labels.txt         one header line, then per image:
                                                id <tab> defective (0/1) <tab> image <tab> 0 <tab> label file

A test image is anomalous when its label image exists. When Labels.txt is present the two records must
agree: a defective flag without a label image is a missing mask, a label image on an image flagged 0 is an
error. Some archives nest the class twice (`Class1/Class1/Test`), which is accepted. `Train/` is not read.

The reference evaluated AdaCLIP's preprocessed copy instead (defective images of Train and Test plus as many
normal ones); that copy can be read with the `mvtec` format.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import pandas as pd

from datamodules.readers.pairing import (
    DatasetLayoutError,
    absolute_root,
    case_variant,
    first_existing_dir,
    list_images,
    name_list,
    pair_masks,
    samples_table,
    subfolders,
    warn_skipped,
)

EXPECTED = "Class1/Test/*.PNG with Class1/Test/Label/*_label.PNG (and Labels.txt), likewise for each class"


def read_dagm(root: str | os.PathLike, *, allow_missing_masks: bool = False) -> pd.DataFrame:
    """One row per DAGM test image; class names are the class folders ('Class1', ...)."""
    root_dir = absolute_root(root, "dagm", EXPECTED)
    classes, without_test = [], []
    for class_dir in subfolders(root_dir):
        candidates = [class_dir / "Test", class_dir / "test", class_dir / class_dir.name / "Test"]
        test_dir = first_existing_dir(candidates)
        if test_dir is not None:
            classes.append((class_dir.name, test_dir))
            continue
        variant = case_variant(class_dir / "Test")
        if variant is not None:
            raise DatasetLayoutError(
                f"'{class_dir}' holds '{variant.name}/' where DAGM has 'Test/'; names are case-sensitive. "
                f"Fix: rename '{variant}' to '{class_dir / 'Test'}'."
            )
        if first_existing_dir([class_dir / "Train", class_dir / "train"]) is not None:
            without_test.append(class_dir)
    if not classes:
        raise DatasetLayoutError(
            f"no class folder holding a 'Test' folder under '{root_dir}'; expected {EXPECTED}. "
            "Fix: pass the folder that holds Class1 ... Class10 as root."
        )
    warn_skipped(
        without_test, root_dir, "classes with a Test/ folder (they hold only Train/)",
        "extract their Test/ folders too, or ignore this if the classes were left out on purpose.",
    )
    rows: list[tuple] = []
    for class_name, test_dir in classes:
        rows += _class_rows(class_name, test_dir, allow_missing_masks=allow_missing_masks)
    return samples_table(rows, format_name="dagm", root=root_dir)


def _class_rows(class_name: str, test_dir: Path, *, allow_missing_masks: bool) -> list[tuple]:
    # The label folder decides which images are defective; missing it would silently make every image normal.
    label_dir = first_existing_dir([test_dir / "Label", test_dir / "label"]) or case_variant(test_dir / "Label")
    if label_dir is None or not label_dir.is_dir():
        raise DatasetLayoutError(
            f"'{test_dir}' has no 'Label' folder, so no test image of {class_name} could be told defective; expected "
            f"{EXPECTED}. Fix: re-extract {class_name} of DAGM 2007."
        )
    images = list_images(test_dir, ignore=(label_dir.name,))
    if not images:
        raise DatasetLayoutError(f"'{test_dir}' holds no .PNG test images. Fix: re-extract {class_name} of DAGM 2007.")
    label_images = list_images(label_dir)
    # Every image is offered a mask; those that find one are the defective images.
    masks = pair_masks(
        images, label_images, mask_folder=label_dir, expected_name="'0001_label.PNG'", allow_missing_masks=True
    )
    flags = _read_labels_txt(label_dir / "Labels.txt")
    if flags is None:
        return [
            (image, mask, class_name, "good" if mask is None else "defect", int(mask is not None))
            for image, mask in zip(images, masks)
        ]

    on_disk = {image.name for image in images}
    unlisted = [image for image in images if image.name not in flags]
    absent = [test_dir / name for name in flags if name not in on_disk]
    flagged_without_mask = [image for image, mask in zip(images, masks) if flags.get(image.name) == 1 and mask is None]
    mask_on_normal = [image for image, mask in zip(images, masks) if flags.get(image.name) == 0 and mask is not None]
    labels_txt = label_dir / "Labels.txt"
    if unlisted or absent:
        raise DatasetLayoutError(
            f"'{labels_txt}' and '{test_dir}' disagree: not listed {name_list(unlisted) or 'none'}; listed but "
            f"missing {name_list(absent) or 'none'}. Fix: re-extract {class_name} of DAGM 2007."
        )
    if mask_on_normal:
        raise DatasetLayoutError(
            f"'{labels_txt}' flags {name_list(mask_on_normal)} as defect-free (0) but '{label_dir}' has a label "
            "image for them. Fix: re-extract the class; a label image must only exist for flag 1."
        )
    if flagged_without_mask and not allow_missing_masks:
        raise DatasetLayoutError(
            f"'{labels_txt}' flags {name_list(flagged_without_mask)} as defective (1) but '{label_dir}' has no "
            "label image for them (expected e.g. '0002_label.PNG'). Fix: restore the label images, or pass "
            "allow_missing_masks=True to keep them without pixel ground truth."
        )
    return [
        (image, mask, class_name, "defect" if flags[image.name] else "good", flags[image.name])
        for image, mask in zip(images, masks)
    ]


def _read_labels_txt(path: Path) -> Optional[dict[str, int]]:
    """{image file name: defective flag} from DAGM's Labels.txt, or None when the file is absent."""
    if not path.is_file():
        return None
    flags: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        fields = line.split()
        if len(fields) < 3:  # the header line holds a single number
            continue
        if fields[1] not in ("0", "1"):
            raise DatasetLayoutError(
                f"'{path}' line {number}: defective flag '{fields[1]}'; expected 0 or 1 in the second column."
            )
        flags[fields[2]] = int(fields[1])
    return flags
