"""`AnomalyDataset`: a torch Dataset over one samples table; decodes and resizes each sample on access."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

import pandas as pd
from torch.utils.data import Dataset

from datamodules.batch import Item
from datamodules.class_names import prompt_class_name
from datamodules.image_io import check_mask_size, read_image, read_mask
from datamodules.readers import SAMPLE_COLUMNS
from datamodules.resize import RESIZE_MODES, resize_image, resize_mask
from datamodules.spec import DatasetSpec


class AnomalyDataset(Dataset[Item]):
    """The samples of one dataset as `Item`s (image [3, S, S] in [0, 1], mask [S, S] of {0, 1}).

    Args:
        samples: a samples table (`read_samples`); its row numbers become `Item.index`.
        dataset_name: the set's name, copied into every item.
        format: the table's layout, which picks the pinned prompt class names.
        image_size: S.
        resize: "reference" (default) or "letterbox", see `datamodules.resize`.
        class_names: prompt class name overrides, {reader class name: prompt words}.
        mask_threshold: mask pixels above it are anomalous.
        pixel_level: whether the set has pixel ground truth; then a normal image's all-zero mask counts as
            ground truth (`has_mask` True) although no mask file exists.
    """

    def __init__(
        self,
        samples: pd.DataFrame,
        *,
        dataset_name: str,
        format: str,
        image_size: int = 518,
        resize: str = "reference",
        class_names: Optional[Mapping[str, str]] = None,
        mask_threshold: int = 0,
        pixel_level: bool = True,
    ) -> None:
        missing = [column for column in SAMPLE_COLUMNS if column not in samples.columns]
        if missing:
            raise ValueError(f"samples table of '{dataset_name}' lacks column(s) {missing}; see datamodules.readers.")
        if resize not in RESIZE_MODES:
            raise ValueError(f"unknown resize mode '{resize}'; expected one of {', '.join(RESIZE_MODES)}.")
        self.samples = samples.reset_index(drop=True)
        self.dataset_name = dataset_name
        self.image_size = image_size
        self.resize = resize
        self.mask_threshold = mask_threshold
        self.pixel_level = pixel_level
        self.prompt_names = {
            name: prompt_class_name(format, name, class_names) for name in dict.fromkeys(self.samples["class_name"])
        }
        # Plain tuples: cheap to pickle into DataLoader workers and to index.
        self._rows = list(
            zip(
                self.samples["image_path"],
                self.samples["mask_path"],
                self.samples["class_name"],
                self.samples["label"].astype(int),
            )
        )

    @classmethod
    def from_spec(cls, spec: DatasetSpec, *, image_size: int = 518, resize: str = "reference") -> AnomalyDataset:
        """Read `spec`'s samples table and wrap it."""
        return cls(
            spec.read_samples(),
            dataset_name=spec.name,
            format=spec.format,
            image_size=image_size,
            resize=resize,
            class_names=spec.class_names,
            mask_threshold=spec.mask_threshold,
            pixel_level=spec.pixel_level,
        )

    @property
    def prompt_class_names(self) -> list[str]:
        """The distinct prompt class names of this set, in table order."""
        return list(dict.fromkeys(self.prompt_names.values()))

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: int) -> Item:
        image_path, mask_path, class_name, label = self._rows[index]
        image = read_image(image_path)
        mask = None
        if mask_path is not None:
            mask = read_mask(mask_path, self.mask_threshold)
            check_mask_size(mask, image, mask_path, image_path)
        return Item(
            image=resize_image(image, self.image_size, self.resize),
            mask=resize_mask(mask, self.image_size, self.resize),
            label=int(label),
            class_name=self.prompt_names[class_name],
            dataset_name=self.dataset_name,
            image_path=image_path,
            index=int(index),
            has_mask=mask_path is not None or (label == 0 and self.pixel_level),
        )
