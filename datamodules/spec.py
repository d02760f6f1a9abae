"""`DatasetSpec`: one dataset as the user names it (name, layout, folder) plus the per-format defaults.

In YAML (LightningCLI) a spec is a plain mapping:

    train_sets: [{name: mvtec, format: mvtec, root: /data/mvtec}]
    test_sets:
      - {name: visa, format: visa, root: /data/VisA_20220922}
      - {name: headct, format: headct, root: /data/head_ct}     # fixed_prompts "medical", levels "image"

Every field is checked when the spec is made (types, values, options the format's reader takes), so a typo
fails at start-up with a one-line message, never hours later. Whether `root` exists is checked when the
samples are read (`read_samples`), which the data module does before the first batch.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Optional

import pandas as pd

from datamodules.errors import DatasetLayoutError
from datamodules.few_shot import FewShot
from datamodules.path_names import check_path_part
from datamodules.readers import FORMATS, READERS, read_samples

Levels = Literal["image", "pixel", "both"]
LEVELS: tuple[str, ...] = ("image", "pixel", "both")

# Which metrics a format's ground truth supports: image labels, pixel masks, or both.
DEFAULT_LEVELS: dict[str, Levels] = {
    **dict.fromkeys(("mvtec", "visa", "btad", "ksdd", "dagm", "meta_json"), "both"),
    **dict.fromkeys(("headct", "brainmri", "br35h"), "image"),  # labels only, no masks
    **dict.fromkeys(("isic", "colondb", "clinicdb", "tn3k"), "pixel"),  # every image anomalous
}
# Formats without normal images: image metrics are undefined on them (every AUROC would be NaN).
ANOMALOUS_ONLY_FORMATS = frozenset({"isic", "colondb", "clinicdb", "tn3k"})
# Only the image-level medical sets use the medical prompt family. The reference protocol (its train_test.sh)
# tests ISIC, CVC-ColonDB, CVC-ClinicDB and TN3K with the industrial prompts, whose templates its learned
# prompts were trained on; so do we, for the same numbers.
MEDICAL_PROMPT_FORMATS = frozenset({"headct", "brainmri", "br35h"})
# The fixed prompt families of lightning_modules/tipsomaly/fixed_prompts.py (ENSEMBLES); a test keeps the two
# lists equal. Named here because the data package does not import the model package.
FIXED_PROMPT_FAMILIES: tuple[str, ...] = ("industrial", "medical", "object_agnostic")
# A mask pixel is anomalous when its value exceeds this. 0 is the reference's rule (`> 0`), which also reads
# VisA's defect-index masks right; TN3K's JPEG masks carry compression noise near 0 and 255, hence 127.
MASK_THRESHOLDS: dict[str, int] = {"tn3k": 127}
# Masks are compared on the 0-255 scale (16-bit masks on their raw values); 255 or more would leave every
# pixel of an 8-bit mask normal.
MAX_MASK_THRESHOLD = 254
# Dataset names that would collide with the mean rows of the results table.
RESERVED_NAMES = frozenset({"mean"})


@dataclass
class DatasetSpec:
    """A dataset to train or test on.

    Args:
        name: the set's name in results and batches (`Batch.dataset_name`); unique within train/test sets.
        format: the layout, one of `datamodules.readers.FORMATS`.
        root: the dataset folder as distributed.
        classes: keep only these classes (reader class names, e.g. "metal_nut"); None keeps all. A single
            string is one class name.
        fixed_prompts: the fixed prompt family ("industrial", "medical", "object_agnostic"); default "medical"
            for headct, brainmri and br35h (as the reference protocol), else None: the model's own
            `fixed_prompts` (industrial in the paper), so `--model.fixed_prompts` reaches these sets.
        levels: the metric levels its ground truth supports ("image", "pixel", "both"); default per format;
            "folder" is "both" with a mask_dir option, else "image".
        class_names: overrides of the prompt class names, {reader class name: prompt words}.
        allow_missing_masks: keep anomalous images that have no mask (they get has_mask False) instead of failing.
        mask_threshold: mask pixels > this (0..254) are anomalous; default per format (MASK_THRESHOLDS, else 0).
        options: further reader options, e.g. {normal_dir: ok, anomalous_dir: ko, mask_dir: gt} for "folder".
        few_shot: {k, seed}: per class, k normal reference images drawn with the seed from the training split (or,
            without one, from the normal test images, which then leave the evaluation); see datamodules.few_shot.
    """

    name: str
    format: str
    root: str
    classes: Optional[list[str]] = None
    fixed_prompts: Optional[str] = None
    levels: Optional[Levels] = None
    class_names: Optional[dict[str, str]] = None
    allow_missing_masks: bool = False
    mask_threshold: Optional[int] = None
    options: Optional[dict[str, Any]] = None
    few_shot: Optional[dict[str, int]] = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise DatasetLayoutError(f"dataset name {self.name!r}: expected a non-empty string, e.g. name: visa.")
        check_path_part(self.name, "dataset name", "name the set with one plain word, e.g. name: visa (no '/', '\\', '..').")
        if self.name in RESERVED_NAMES:
            raise DatasetLayoutError(
                f"dataset name '{self.name}' is reserved for the mean rows of the results table; rename the set."
            )
        where = f"dataset '{self.name}'"
        self._check_format(where)
        if not isinstance(self.root, (str, os.PathLike)) or not os.fspath(self.root):
            raise DatasetLayoutError(f"{where}: root {self.root!r}; expected the dataset folder as a path string.")
        self.root = os.fspath(self.root)
        self.classes = _class_list(self.classes, where)
        self._check_options(where)
        self._check_fixed_prompts(where)
        self._check_levels(where)
        self.class_names = _class_name_overrides(self.class_names, where)
        if not isinstance(self.allow_missing_masks, bool):
            raise DatasetLayoutError(
                f"{where}: allow_missing_masks={self.allow_missing_masks!r}; expected true or false (a boolean)."
            )
        if self.allow_missing_masks and not _has_masks(self.format):
            raise DatasetLayoutError(
                f"{where}: format '{self.format}' has no masks, so allow_missing_masks=True does not apply; remove it."
            )
        self._check_mask_threshold(where)
        few_shot = FewShot.coerce(self.few_shot, where)
        self.few_shot = None if few_shot is None else few_shot.as_dict()

    def _check_format(self, where: str) -> None:
        if isinstance(self.format, str) and self.format in FORMATS:
            return
        close = difflib.get_close_matches(str(self.format).lower(), FORMATS, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else "."
        raise DatasetLayoutError(
            f"{where}: unknown format {self.format!r}; expected one of {', '.join(FORMATS)}{hint}"
        )

    def _check_options(self, where: str) -> None:
        if self.options is None:
            return
        if not isinstance(self.options, Mapping) or not all(isinstance(key, str) for key in self.options):
            raise DatasetLayoutError(
                f"{where}: options {self.options!r}; expected a mapping of option name -> value, e.g. {{mask_dir: gt}}."
            )
        self.options = dict(self.options)
        if "allow_missing_masks" in self.options or "classes" in self.options:
            raise DatasetLayoutError(
                f"{where}: options {sorted(self.options)} repeat a field of the spec; set allow_missing_masks / "
                "classes as keys of the spec itself, not inside options."
            )
        accepted = inspect.signature(READERS[self.format]).parameters
        allowed = [n for n, p in accepted.items() if p.kind is inspect.Parameter.KEYWORD_ONLY and n != "allow_missing_masks"]
        unknown = sorted(set(self.options) - set(allowed))
        if unknown:
            raise DatasetLayoutError(
                f"{where}: format '{self.format}' takes no option(s) {unknown}; its options are {allowed or 'none'}."
            )

    def _check_fixed_prompts(self, where: str) -> None:
        if self.fixed_prompts is None and self.format in MEDICAL_PROMPT_FORMATS:
            self.fixed_prompts = "medical"
        if self.fixed_prompts is not None and self.fixed_prompts not in FIXED_PROMPT_FAMILIES:
            raise DatasetLayoutError(
                f"{where}: fixed_prompts {self.fixed_prompts!r}; expected one of {', '.join(FIXED_PROMPT_FAMILIES)}."
            )

    def _check_levels(self, where: str) -> None:
        if self.levels is None:
            if self.format == "folder":
                self.levels = "both" if (self.options or {}).get("mask_dir") else "image"
            else:
                self.levels = DEFAULT_LEVELS.get(self.format, "image")
        if self.levels not in LEVELS:
            raise DatasetLayoutError(f"{where}: levels {self.levels!r}; expected image, pixel or both.")
        no_masks = not _has_masks(self.format) or (self.format == "folder" and not (self.options or {}).get("mask_dir"))
        if no_masks and self.levels != "image":
            fix = "give options {mask_dir: ...}" if self.format == "folder" else "use levels: image"
            raise DatasetLayoutError(
                f"{where}: levels '{self.levels}' asks for pixel metrics but format '{self.format}' has no masks "
                f"here; {fix}."
            )
        if self.format in ANOMALOUS_ONLY_FORMATS and self.levels != "pixel":
            # Not wrong, only undefined: the results table shows these image metrics as missing and says why.
            warnings.warn(
                f"{where}: levels '{self.levels}' asks for image metrics, but every {self.format} image is anomalous, "
                "so image AUROC/AP/F1 are undefined (NaN); use levels: pixel.",
                stacklevel=3,
            )

    def _check_mask_threshold(self, where: str) -> None:
        if self.mask_threshold is None:
            self.mask_threshold = MASK_THRESHOLDS.get(self.format, 0)
        value = self.mask_threshold
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MASK_THRESHOLD:
            raise DatasetLayoutError(
                f"{where}: mask_threshold {value!r}; expected an integer in 0..{MAX_MASK_THRESHOLD} on the 0-255 mask "
                "scale (pixels above it are anomalous; 0 for binary masks, 127 for JPEG masks)."
            )

    @property
    def image_level(self) -> bool:
        """Whether image-level metrics (AUROC, AP, F1-max of the anomaly score) apply."""
        return self.levels in ("image", "both")

    @property
    def pixel_level(self) -> bool:
        """Whether pixel-level metrics (pixel AUROC, AUPRO, ...) apply."""
        return self.levels in ("pixel", "both")

    def read_samples(self) -> pd.DataFrame:
        """This set's samples table (see `datamodules.readers`); class_names keys must name its classes."""
        table = read_samples(
            self.format,
            self.root,
            classes=self.classes,
            allow_missing_masks=self.allow_missing_masks,
            **(self.options or {}),
        )
        if self.class_names:
            known = sorted(set(table["class_name"]))
            unused = sorted(set(self.class_names) - set(known))
            if unused:
                # An override that names no class would silently leave the default prompt words in place.
                raise DatasetLayoutError(
                    f"dataset '{self.name}': class_names overrides {unused} name no class read from '{self.root}'; "
                    f"its classes are {known}. Fix: key class_names by these reader class names."
                )
        return table

    @classmethod
    def coerce(cls, value: DatasetSpec | Mapping[str, Any]) -> DatasetSpec:
        """A spec from a spec or a plain mapping (Python dicts, parsed YAML)."""
        if isinstance(value, DatasetSpec):
            return value
        if not isinstance(value, Mapping):
            raise DatasetLayoutError(
                f"a dataset spec must be a DatasetSpec or a mapping, got {type(value).__name__}: {value!r}; "
                "write each set as {name: ..., format: ..., root: ...} inside a list."
            )
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(value) - known)
        missing = sorted({"name", "format", "root"} - set(value))
        if unknown or missing:
            raise DatasetLayoutError(
                f"dataset spec {dict(value)!r}: unknown key(s) {unknown}, missing key(s) {missing}; "
                f"the keys are {sorted(known)} (name, format and root are required)."
            )
        return cls(**value)


def _has_masks(format: str) -> bool:
    """Whether the format's files can hold masks: its reader takes `allow_missing_masks` exactly then."""
    return "allow_missing_masks" in inspect.signature(READERS[format]).parameters


def _class_list(classes: Any, where: str) -> Optional[list[str]]:
    """`classes` as a list of names; a plain string is one name (never split into letters)."""
    if classes is None:
        return None
    if isinstance(classes, str):
        classes = [classes]
    if isinstance(classes, Mapping) or not isinstance(classes, (list, tuple)):
        raise DatasetLayoutError(f"{where}: classes {classes!r}; expected a list of class names, e.g. [bottle, cable].")
    if not classes:
        raise DatasetLayoutError(f"{where}: classes is an empty list, which keeps nothing; omit it to keep all classes.")
    for position, name in enumerate(classes):
        if not isinstance(name, str) or not name:
            # YAML reads `01` as the number 1, which would never match BTAD's class folder '01'.
            raise DatasetLayoutError(
                f"{where}: classes[{position}] is {name!r} ({type(name).__name__}); expected a class folder name as "
                "a string. Fix: quote it in YAML, e.g. ['01', '02']."
            )
    duplicates = sorted({name for name in classes if classes.count(name) > 1})
    if duplicates:
        raise DatasetLayoutError(f"{where}: classes lists {duplicates} more than once; list each class once.")
    return list(classes)


def _class_name_overrides(class_names: Any, where: str) -> Optional[dict[str, str]]:
    if class_names is None:
        return None
    if not isinstance(class_names, Mapping) or not all(
        isinstance(key, str) and isinstance(words, str) and words.strip() for key, words in class_names.items()
    ):
        raise DatasetLayoutError(
            f"{where}: class_names {class_names!r}; expected a mapping of reader class name -> prompt words "
            "(non-empty strings), e.g. {metal_nut: metal nut}."
        )
    return dict(class_names)
