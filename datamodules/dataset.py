"""`AnomalyDataset`: a torch Dataset over one samples table; decodes and resizes each sample on access."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Optional

import pandas as pd
import torch
from torch.utils.data import Dataset

from datamodules.batch import Item
from datamodules.class_names import prompt_class_name
from datamodules.errors import DatasetLayoutError
from datamodules.file_checks import decode_problem, header_problem, problems_message
from datamodules.few_shot import ClassReferences, FewShot, coverage_note, draw_references, references_table
from datamodules.fingerprint import image_fingerprint
from datamodules.image_io import check_mask_size, empty_mask_message, mask_is_empty, read_image, read_mask
from datamodules.readers import SAMPLE_COLUMNS
from datamodules.readers.train_split import read_train_normals
from datamodules.regions import region_weights
from datamodules.resized_cache import ResizedImageCache
from datamodules.resize import RESIZE_MODES, resize_image, resize_mask
from datamodules.plan import SetPlan
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
        fixed_prompts: the set's prompt family, carried by every item so any way of feeding the data scores alike;
            None: the model's own family.
        levels: the set's metric levels ("image", "pixel", "both"); default "both" with pixel_level, else "image".
        image_cache_dir: keep decoded, resized images and masks there and read them back next time (see
            datamodules.resized_cache); None decodes every time.
        few_shot, references: the set's few-shot setting and its reference images per class (datamodules.few_shot;
            `from_spec` draws them); `reference_dataset()` reads them exactly as this set's images.

    Index `len(self) + i` returns sample i marked as padding (`Item.is_padding`): the distributed evaluation
    sampler uses it to give a rank without samples one batch, which the metrics then skip.
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
        fixed_prompts: Optional[str] = None,
        levels: Optional[str] = None,
        image_cache_dir: Optional[str] = None,
        few_shot: Optional[FewShot] = None,
        references: Optional[Mapping[str, ClassReferences]] = None,
    ) -> None:
        missing = [column for column in SAMPLE_COLUMNS if column not in samples.columns]
        if missing:
            raise ValueError(f"samples table of '{dataset_name}' lacks column(s) {missing}; see datamodules.readers.")
        if resize not in RESIZE_MODES:
            raise ValueError(f"unknown resize mode '{resize}'; expected one of {', '.join(RESIZE_MODES)}.")
        self.samples = samples.reset_index(drop=True)
        self.dataset_name = dataset_name
        self.format = format
        self.class_names = dict(class_names) if class_names else None
        self.few_shot = few_shot
        self.references = dict(references) if references else {}
        self.image_cache_dir = image_cache_dir
        self.image_size = image_size
        self.resize = resize
        self.mask_threshold = mask_threshold
        self.pixel_level = pixel_level
        self.fixed_prompts = fixed_prompts
        self.levels = levels or ("both" if pixel_level else "image")
        self.image_cache = ResizedImageCache(image_cache_dir) if image_cache_dir else None
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
    def from_spec(
        cls,
        spec: DatasetSpec,
        *,
        image_size: int = 518,
        resize: str = "reference",
        image_cache_dir: Optional[str] = None,
        few_shot: Optional[FewShot] = None,
    ) -> AnomalyDataset:
        """Read `spec`'s samples table and wrap it; with few-shot (the spec's, else `few_shot`), draw its references."""
        samples = spec.read_samples()
        few_shot = FewShot.coerce(spec.few_shot, f"dataset '{spec.name}'") or few_shot
        references = None
        if few_shot is not None:
            options = {k: v for k, v in (spec.options or {}).items()}
            train = read_train_normals(spec.format, spec.root, **options)
            if train is not None and spec.classes is not None:
                train = train[train["class_name"].isin(spec.classes)]
            samples, references = draw_references(samples, train, few_shot, spec.name)
        return cls(
            samples,
            dataset_name=spec.name,
            format=spec.format,
            image_size=image_size,
            resize=resize,
            class_names=spec.class_names,
            mask_threshold=spec.mask_threshold,
            pixel_level=spec.pixel_level,
            fixed_prompts=spec.fixed_prompts,
            levels=spec.levels,
            image_cache_dir=image_cache_dir,
            few_shot=few_shot,
            references=references,
        )

    def reference_dataset(self) -> Optional[AnomalyDataset]:
        """The few-shot reference images of every class (label 0), decoded and resized exactly as this set's
        images (same size, resize mode and image cache); None without few-shot."""
        if not self.references:
            return None
        return AnomalyDataset(
            references_table(self.references),
            dataset_name=self.dataset_name,
            format=self.format,
            image_size=self.image_size,
            resize=self.resize,
            class_names=self.class_names,
            pixel_level=False,
            fixed_prompts=self.fixed_prompts,
            levels="image",
            image_cache_dir=self.image_cache_dir,
        )

    @property
    def prompt_class_names(self) -> list[str]:
        """The distinct prompt class names of this set, in table order."""
        return list(dict.fromkeys(self.prompt_names.values()))

    def __len__(self) -> int:
        return len(self._rows)

    def _resized(self, image_path: str, mask_path: Optional[str], label: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Image float32 [3, S, S] in [0, 1] and mask float32 [S, S] of {0, 1}, decoded or from the image cache."""
        key = self.image_cache.key(image_path, mask_path, self.image_size, self.resize, self.mask_threshold) if self.image_cache else None
        if key is not None and (cached := self.image_cache.load(key)) is not None:
            return cached
        image = read_image(image_path)
        mask = None
        if mask_path is not None:
            mask = read_mask(mask_path, self.mask_threshold)
            check_mask_size(mask, image, mask_path, image_path)
            if label == 1 and mask_is_empty(mask):
                warnings.warn(empty_mask_message(mask_path, image_path, self.mask_threshold), stacklevel=3)
        resized = resize_image(image, self.image_size, self.resize), resize_mask(mask, self.image_size, self.resize)
        if key is not None:
            self.image_cache.save(key, *resized)
        return resized

    def check_files(self, *, decode: bool = False, skip: bool = False) -> None:
        """Check every sample's image and mask up front, before a loader starts (datamodules.file_checks).

        decode: decode every pixel as the workers will (also finds truncated files); else read headers only.
        skip: drop unusable samples with one warning naming them (unlabelled predict sets, where one bad photo
            must not stop the rest); else one DatasetLayoutError listing them (a dropped test image would change
            every metric).
        """
        references = self.reference_dataset()
        if references is not None:
            references.check_files(decode=decode)  # a bad reference is always an error: it would change the bank
        problems: dict[int, str] = {}
        for position, (image_path, mask_path, _, _) in enumerate(self._rows):
            if decode:
                problem = decode_problem(image_path, mask_path, self.mask_threshold)
            else:
                problem = header_problem(image_path, mask_path, verify=skip)
            if problem:
                problems[position] = problem
        if not problems:
            return
        where = f"dataset '{self.dataset_name}'"
        if not skip or len(problems) == len(self._rows):
            raise DatasetLayoutError(
                problems_message(list(problems.values()), len(self._rows), where, "replace or remove these files.")
            )
        warnings.warn(
            problems_message(list(problems.values()), len(self._rows), where, "replace them; they are skipped, the others scored.")
            .replace("cannot be used", "cannot be used and are skipped"),
            stacklevel=2,
        )
        keep = [position for position in range(len(self._rows)) if position not in problems]
        self.samples = self.samples.iloc[keep].reset_index(drop=True)
        self._rows = [self._rows[position] for position in keep]

    def evaluation_plan(self) -> SetPlan:
        """What evaluating this set computes: its reader class names in table order and its metric levels."""
        levels = tuple(level for level in ("image", "pixel") if self.levels in (level, "both"))
        labels = self.samples.groupby("class_name", sort=False)["label"]
        counts = tuple((int((labels.get_group(c) == 0).sum()), int((labels.get_group(c) == 1).sum())) for c in self.prompt_names)
        note = coverage_note(self.few_shot, self.references) if self.few_shot and self.references else ""
        return SetPlan(dataset=self.dataset_name, classes=tuple(self.prompt_names), levels=levels, counts=counts, note=note)

    def __getitem__(self, index: int) -> Item:
        if index >= len(self._rows):
            return dataclasses.replace(self[index - len(self._rows)], is_padding=True)
        image_path, mask_path, class_name, label = self._rows[index]
        image, mask = self._resized(image_path, mask_path, int(label))
        return Item(
            image=image,
            mask=mask,
            label=int(label),
            class_name=class_name,
            dataset_name=self.dataset_name,
            image_path=image_path,
            index=int(index),
            has_mask=mask_path is not None or (label == 0 and self.pixel_level),
            prompt_name=self.prompt_names[class_name],
            fixed_prompts=self.fixed_prompts or "",
            levels=self.levels,
            fingerprint=image_fingerprint(image),
            # AUPRO's region weights need connected components, a CPU job: done here, off the model's path
            region_weights=torch.from_numpy(region_weights(mask.numpy())) if self.pixel_level else None,
        )
