"""`DatasetSpec`: one dataset as the user names it (name, layout, folder) plus the per-format defaults.

In YAML (LightningCLI) a spec is a plain mapping:

    train_sets: [{name: mvtec, format: mvtec, root: /data/mvtec}]
    test_sets:
      - {name: visa, format: visa, root: /data/VisA_20220922}
      - {name: headct, format: headct, root: /data/head_ct}     # fixed_prompts "medical", levels "image"
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Optional

import pandas as pd

from datamodules.errors import DatasetLayoutError
from datamodules.readers import FORMATS, read_samples

Levels = Literal["image", "pixel", "both"]

# Which metrics a format's ground truth supports: image labels, pixel masks, or both.
DEFAULT_LEVELS: dict[str, Levels] = {
    **dict.fromkeys(("mvtec", "visa", "btad", "ksdd", "dagm", "meta_json"), "both"),
    **dict.fromkeys(("headct", "brainmri", "br35h"), "image"),  # labels only, no masks
    **dict.fromkeys(("isic", "colondb", "clinicdb", "tn3k"), "pixel"),  # every image anomalous
}
MEDICAL_FORMATS = frozenset({"headct", "brainmri", "br35h", "isic", "colondb", "clinicdb", "tn3k"})
# A mask pixel is anomalous when its value exceeds this. 0 is the reference's rule (`> 0`), which also reads
# VisA's defect-index masks right; TN3K's JPEG masks carry compression noise near 0 and 255, hence 127.
MASK_THRESHOLDS: dict[str, int] = {"tn3k": 127}


@dataclass
class DatasetSpec:
    """A dataset to train or test on.

    Args:
        name: the set's name in results and batches (`Batch.dataset_name`); unique within train/test sets.
        format: the layout, one of `datamodules.readers.FORMATS`.
        root: the dataset folder as distributed.
        classes: keep only these classes (reader class names, e.g. "metal_nut"); None keeps all.
        fixed_prompts: the fixed prompt family; default "medical" for medical formats, else "industrial".
        levels: the metric levels its ground truth supports ("image", "pixel", "both"); default per format;
            "folder" is "both" with a mask_dir option, else "image".
        class_names: overrides of the prompt class names, {reader class name: prompt words}.
        allow_missing_masks: keep anomalous images that have no mask (they get has_mask False) instead of failing.
        mask_threshold: mask pixels > this are anomalous; default per format (MASK_THRESHOLDS, else 0).
        options: further reader options, e.g. {normal_dir: ok, anomalous_dir: ko, mask_dir: gt} for "folder".
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

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise DatasetLayoutError(
                f"dataset '{self.name}': unknown format '{self.format}'; expected one of {', '.join(FORMATS)}."
            )
        self.root = os.fspath(self.root)
        if self.classes is not None:
            self.classes = [str(name) for name in self.classes]
        if self.fixed_prompts is None:
            self.fixed_prompts = "medical" if self.format in MEDICAL_FORMATS else "industrial"
        if self.levels is None:
            if self.format == "folder":
                self.levels = "both" if (self.options or {}).get("mask_dir") else "image"
            else:
                self.levels = DEFAULT_LEVELS[self.format]
        if self.levels not in ("image", "pixel", "both"):
            raise DatasetLayoutError(f"dataset '{self.name}': levels '{self.levels}'; expected image, pixel or both.")
        if self.mask_threshold is None:
            self.mask_threshold = MASK_THRESHOLDS.get(self.format, 0)

    @property
    def image_level(self) -> bool:
        """Whether image-level metrics (AUROC, AP, F1-max of the anomaly score) apply."""
        return self.levels in ("image", "both")

    @property
    def pixel_level(self) -> bool:
        """Whether pixel-level metrics (pixel AUROC, AUPRO, ...) apply."""
        return self.levels in ("pixel", "both")

    def read_samples(self) -> pd.DataFrame:
        """This set's samples table (see `datamodules.readers`)."""
        return read_samples(
            self.format,
            self.root,
            classes=self.classes,
            allow_missing_masks=self.allow_missing_masks,
            **(self.options or {}),
        )

    @classmethod
    def coerce(cls, value: DatasetSpec | Mapping[str, Any]) -> DatasetSpec:
        """A spec from a spec or a plain mapping (Python dicts, parsed YAML)."""
        if isinstance(value, DatasetSpec):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"a dataset spec must be a DatasetSpec or a mapping, got {type(value).__name__}: {value!r}")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(value) - known)
        missing = sorted({"name", "format", "root"} - set(value))
        if unknown or missing:
            raise DatasetLayoutError(
                f"dataset spec {dict(value)!r}: unknown key(s) {unknown}, missing key(s) {missing}; "
                f"the keys are {sorted(known)} (name, format and root are required)."
            )
        return cls(**value)
