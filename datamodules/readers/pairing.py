"""What every reader shares: listing image files, pairing masks to images by name, building the samples table.

Masks are paired to images by their pairing key, the file stem with one of the annotation suffixes
`_mask`, `_label` or `_Segmentation` removed (`000_mask.png` -> `000`, `ISIC_0000003_Segmentation.png` ->
`ISIC_0000003`). Never by sorted position: one missing or extra file would silently shift every pair after it.

Nothing is dropped without a word: a broken link where an image should be is an error; files of other types
and sub-folders found among the images are skipped with a warning naming them (`list_images`); a folder whose
name differs from the expected one only by case ('Test/' for 'test/') is an error saying what to rename.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Optional

import pandas as pd

from datamodules.errors import DatasetLayoutError
from datamodules.path_names import check_path_part

__all__ = [
    "IMAGE_EXTENSIONS",
    "MASK_SUFFIXES",
    "SAMPLE_COLUMNS",
    "DatasetLayoutError",
    "absolute_root",
    "case_variant",
    "check_class_names",
    "first_existing_dir",
    "is_image_file",
    "list_images",
    "name_list",
    "pair_masks",
    "pairing_key",
    "require_dir",
    "samples_table",
    "subfolders",
    "warn_skipped",
]

# Compared lower-case, so `.PNG` (DAGM), `.JPG` (VisA) and `.Bmp` are all found.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
# Compared lower-case at the end of the stem; ISIC writes `_Segmentation`, DAGM `_label`, MVTec `_mask`.
MASK_SUFFIXES = ("_mask", "_label", "_segmentation")
SAMPLE_COLUMNS = ("image_path", "mask_path", "class_name", "defect_type", "label")
# Files that share image folders in the distributed archives (Labels.txt, readme.txt, Thumbs.db, desktop.ini)
# and are never images: skipping them needs no warning.
NOT_DATA_SUFFIXES = (".txt", ".md", ".csv", ".json", ".db", ".ini")


def absolute_root(root: str | os.PathLike, format_name: str, expected: str) -> Path:
    """`root` as an absolute path (symlinks kept), or an error saying what the folder should hold."""
    path = Path(os.path.abspath(os.path.expanduser(str(root))))
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "does not exist"
        raise DatasetLayoutError(
            f"{format_name} dataset root '{path}' {what}. Expected the folder as its authors distribute it: "
            f"{expected}. Fix: pass the folder that holds these files as root."
        )
    return path


def first_existing_dir(candidates: Iterable[Path]) -> Optional[Path]:
    return next((path for path in candidates if path.is_dir()), None)


def is_image_file(path: Path) -> bool:
    # Names starting with '.' are macOS resource forks ('._000.png') and other hidden files, never images.
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _refuse_broken_link(path: Path) -> None:
    if path.is_symlink() and not path.exists():
        raise DatasetLayoutError(
            f"'{path}' is a broken link: it points to '{os.readlink(path)}', which does not exist. "
            "Fix: restore the file it points to, or remove the link (a missing image would change every metric)."
        )


def warn_skipped(skipped: Sequence[Path], where: Path, expected: str, fix: str) -> None:
    """One warning naming what was found in `where` but not read (`expected` says what is read there)."""
    if skipped:
        warnings.warn(
            f"{len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} in '{where}' skipped, not {expected}: "
            f"{name_list(skipped)}. Fix: {fix}",
            stacklevel=3,
        )


def list_images(directory: Path, *, ignore: Sequence[str] = (), folders_expected: bool = False) -> list[Path]:
    """The image files directly inside `directory`, sorted by name (sorting only fixes the row order).

    Hidden files, `ignore`d names and NOT_DATA_SUFFIXES files are passed over; any other file, and any
    sub-folder unless `folders_expected`, is named in one warning (a `.webp` image or a nested folder of images
    would otherwise be lost without a word); a broken link is an error.
    """
    images: list[Path] = []
    skipped: list[Path] = []
    for path in directory.iterdir():
        if path.name.startswith(".") or path.name in ignore:
            continue
        _refuse_broken_link(path)
        if path.is_file() and is_image_file(path):
            images.append(path)
        elif path.is_dir():
            if not folders_expected:
                skipped.append(path)
        elif path.suffix.lower() not in NOT_DATA_SUFFIXES:
            skipped.append(path)
    warn_skipped(
        sorted(skipped), directory, f"{'/'.join(IMAGE_EXTENSIONS)} image files",
        "move them out of the dataset, or convert images to one of these types.",
    )
    return sorted(images, key=lambda p: p.name)


def subfolders(directory: Path) -> list[Path]:
    """The folders directly inside `directory`, sorted by name; a broken link among them is an error."""
    folders = []
    for path in directory.iterdir():
        if path.name.startswith("."):
            continue
        _refuse_broken_link(path)
        if path.is_dir():
            folders.append(path)
    return sorted(folders, key=lambda p: p.name)


def case_variant(path: Path) -> Optional[Path]:
    """A sibling whose name differs from `path`'s only by case ('Test' for 'test'), when `path` does not exist.

    On a case-sensitive file system such a folder is invisible to a reader looking for `path`, so a whole class
    or split would vanish; readers turn a variant into an error saying what to rename.
    """
    if path.exists() or not path.parent.is_dir():
        return None
    wanted = path.name.lower()
    return next((p for p in sorted(path.parent.iterdir()) if p.name.lower() == wanted and p.name != path.name), None)


def require_dir(path: Path, expected: str, fix: str) -> Path:
    if not path.is_dir():
        variant = case_variant(path)
        if variant is not None:
            raise DatasetLayoutError(
                f"folder '{path}' does not exist but '{variant.name}' does; expected {expected}, and names are "
                f"case-sensitive. Fix: rename '{variant}' to '{path.name}'."
            )
        raise DatasetLayoutError(f"folder '{path}' does not exist; expected {expected}. Fix: {fix}")
    return path


def pairing_key(path: str | os.PathLike) -> str:
    """The name a mask and its image share: the stem without one trailing annotation suffix."""
    stem = Path(path).stem
    lowered = stem.lower()
    for suffix in MASK_SUFFIXES:
        if lowered.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def name_list(paths: Sequence[Path | str], limit: int = 5) -> str:
    names = [Path(p).name for p in paths]
    shown = ", ".join(f"'{name}'" for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _index_by_key(paths: Sequence[Path], what: str) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in paths:
        key = pairing_key(path)
        if key in index:
            raise DatasetLayoutError(
                f"two {what} files in '{path.parent}' have the pairing name '{key}': '{index[key].name}' and "
                f"'{path.name}', so it is ambiguous which belongs to which image. Fix: keep only one of them."
            )
        index[key] = path
    return index


def pair_masks(
    images: Sequence[Path],
    masks: Sequence[Path],
    *,
    mask_folder: Path,
    expected_name: str,
    allow_missing_masks: bool,
) -> list[Optional[Path]]:
    """The mask of each anomalous image, matched by pairing key; None only where missing masks are allowed.

    Args:
        images: anomalous images that should each have a mask.
        masks: the candidate mask files.
        mask_folder: where the masks were looked for (named in errors).
        expected_name: how a mask of image '000.png' should be named, for the error message.
        allow_missing_masks: an image without a mask gets None instead of raising.
    """
    _index_by_key(images, "image")  # two images sharing one mask name would make the pairing ambiguous
    by_key = _index_by_key(masks, "mask")
    paired = [by_key.get(pairing_key(image)) for image in images]
    missing = [image for image, mask in zip(images, paired) if mask is None]
    if missing and not allow_missing_masks:
        raise DatasetLayoutError(
            f"{len(missing)} anomalous image(s) have no mask in '{mask_folder}': {name_list(missing)}. "
            f"Expected the mask of '000.png' to be named {expected_name}. Fix: restore the missing masks, or pass "
            "allow_missing_masks=True to keep these images without pixel ground truth."
        )
    orphans = sorted(set(by_key) - {pairing_key(image) for image in images})
    if orphans:
        warnings.warn(
            f"{len(orphans)} mask(s) in '{mask_folder}' match no image: "
            f"{name_list([by_key[key] for key in orphans])}; they are ignored.",
            stacklevel=3,
        )
    return paired


def samples_table(
    rows: Sequence[tuple], *, format_name: str, root: Path, both_labels: bool = True
) -> pd.DataFrame:
    """The samples table from (image_path, mask_path, class_name, defect_type, label) rows.

    Paths become absolute strings, `label` int64 in {0, 1}; rows repeating an image path are dropped (the
    first is kept) with a warning, since a duplicated image would count twice in every metric. With
    `both_labels` (every layout with normal and anomalous images), a class holding only one of the two is
    named in a warning: its image metrics are undefined and the results table leaves it out of the means.
    """
    if not rows:
        raise DatasetLayoutError(f"no test images found for the {format_name} layout under '{root}'.")
    images, masks, classes, defects, labels = zip(*rows)
    table = pd.DataFrame(
        {
            "image_path": pd.Series([os.path.abspath(str(path)) for path in images], dtype=str),
            # object dtype keeps None as None; an inferred string column would turn it into NaN
            "mask_path": pd.Series([None if m is None else os.path.abspath(str(m)) for m in masks], dtype=object),
            "class_name": pd.Series([str(name) for name in classes], dtype=str),
            "defect_type": pd.Series([str(name) for name in defects], dtype=str),
            "label": pd.Series([int(label) for label in labels], dtype="int64"),
        }
    )
    check_class_names(table["class_name"], root)
    bad_labels = ~table["label"].isin([0, 1])
    if bad_labels.any():
        raise DatasetLayoutError(
            f"labels must be 0 (normal) or 1 (anomalous), got {sorted(set(table.loc[bad_labels, 'label']))} for "
            f"{name_list(list(table.loc[bad_labels, 'image_path']))} under '{root}'."
        )
    duplicated = table["image_path"].duplicated()
    if duplicated.any():
        warnings.warn(
            f"{int(duplicated.sum())} duplicate row(s) of the same image under '{root}' were removed: "
            f"{name_list(list(table.loc[duplicated, 'image_path']))}.",
            stacklevel=3,
        )
        table = table.loc[~duplicated]
    if both_labels:
        _warn_single_label_classes(table, format_name, root)
    return table.reset_index(drop=True)


def check_class_names(class_names: Iterable[str], root: Path) -> None:
    """Refuse class names that cannot be one folder of the results (`datamodules.path_names`)."""
    for name in dict.fromkeys(class_names):
        check_path_part(
            name, f"class name read from '{root}'",
            "rename that class (its folder, csv or json entry, or the class_name option) to one plain folder name.",
        )


def _warn_single_label_classes(table: pd.DataFrame, format_name: str, root: Path) -> None:
    labels = table.groupby("class_name", sort=False)["label"].agg(["min", "max"])
    for value, missing in ((0, "anomalous"), (1, "normal")):
        single = [str(name) for name, row in labels.iterrows() if row["min"] == row["max"] == value]
        if single:
            warnings.warn(
                f"{format_name} class(es) {single} under '{root}' have no {missing} test images, so their image "
                "AUROC/AP/F1-max are undefined; the results table leaves them out of the image means and says so. "
                f"Fix: restore the {missing} images if they are missing.",
                stacklevel=3,
            )
