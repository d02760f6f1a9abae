"""`AnomalyDataModule`: cross-dataset splits for zero-shot anomaly detection.

The zero-shot protocol learns prompts on the labelled test split of one dataset (e.g. MVTec AD) and tests on
the others (VisA, BTAD, HeadCT, ...). So `fit` reads the train sets' test images, and `test` runs one
dataloader per test set; dataloader index i is `test_sets[i]`, which keeps results apart per set and class.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import lightning as L
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from datamodules.batch import collate
from datamodules.dataset import AnomalyDataset
from datamodules.few_shot import FewShot
from datamodules.resize import RESIZE_MODES, ResizeMode
from datamodules.sampler import NonRepeatingDistributedSampler, StableShardSampler
from datamodules.spec import DatasetSpec

SpecList = Optional[list[DatasetSpec]]


def default_num_workers() -> int:
    """Up to 4 decoding workers, never more than the CPUs this process may use."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(4, cpus)


class AnomalyDataModule(L.LightningDataModule):
    """Train on the labelled test split of `train_sets`, test on each of `test_sets`.

    Args:
        train_sets: datasets whose labelled test images train the prompts (fit).
        test_sets: datasets to evaluate, one test dataloader each, in this order.
        val_sets: optional datasets evaluated during fit, one validation dataloader each.
        image_size: S of the S x S model input.
        batch_size: samples per batch, for every loader.
        num_workers: DataLoader worker processes (decoding and resizing happen there); default up to 4.
        resize: "reference" (the reference's exact resizing, default) or "letterbox" (see datamodules.resize).
        allow_train_test_overlap: allow a train set that reads the same data as a test set. Refused by default:
            the prompts would be trained on the very images they are scored on.
        pin_memory: pin batches in page-locked memory for faster host-to-GPU copies.
        shuffle: shuffle the training images each epoch (default True). The reference does not shuffle; the
            paper configs set False. Under DDP each rank keeps its own shard in every epoch (shuffled within it),
            so the frozen-feature cache serves every epoch after the first.
        predict_sets: sets to score without evaluation (`predict`), e.g. {name: line3, format: images, root: ...}.
        image_cache_dir: keep every image and mask decoded and resized to image_size there, and read them back in
            later epochs and runs (datamodules.resized_cache: exact; what keeps a GPU fed with few CPU cores).
        few_shot: {k, seed} for every test set that sets none itself: per class, k normal reference images drawn
            with the seed (datamodules.few_shot); the model builds its memory bank from them.
        check_files: decode every image and mask when the data is set up, not only their headers (finds truncated
            files up front, at the cost of decoding each image twice). Either way an unusable file of a train,
            validation or test set is one error before any work; in a predict set it is skipped with a warning.

    Each set is a `DatasetSpec` or a plain mapping with its fields ({name, format, root, ...}).
    """

    def __init__(
        self,
        train_sets: SpecList = None,
        test_sets: SpecList = None,
        val_sets: SpecList = None,
        image_size: int = 518,
        batch_size: int = 8,
        num_workers: Optional[int] = None,
        resize: ResizeMode = "reference",
        allow_train_test_overlap: bool = False,
        pin_memory: bool = False,
        shuffle: bool = True,
        predict_sets: SpecList = None,
        image_cache_dir: Optional[str] = None,
        check_files: bool = False,
        few_shot: Optional[FewShot] = None,
    ) -> None:
        super().__init__()
        self.train_sets = _specs(train_sets, "train_sets")
        self.test_sets = _specs(test_sets, "test_sets")
        self.val_sets = _specs(val_sets, "val_sets")
        self.predict_sets = _specs(predict_sets, "predict_sets")
        if image_size < 1 or batch_size < 1:
            raise ValueError(f"image_size and batch_size must be positive, got {image_size} and {batch_size}.")
        if resize not in RESIZE_MODES:
            raise ValueError(f"unknown resize mode '{resize}'; expected one of {', '.join(RESIZE_MODES)}.")
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_workers = default_num_workers() if num_workers is None else num_workers
        self.resize = resize
        self.allow_train_test_overlap = allow_train_test_overlap
        self.pin_memory = pin_memory
        self.shuffle = shuffle
        self.image_cache_dir = image_cache_dir
        if not isinstance(check_files, bool):
            raise ValueError(f"check_files must be true or false, got {check_files!r}.")
        self.check_files = check_files
        self.few_shot = FewShot.coerce(few_shot, "data")  # a mapping {k, seed} works too
        for argument, specs in (("train_sets", self.train_sets), ("val_sets", self.val_sets)):
            named = [spec.name for spec in specs if spec.few_shot is not None]
            if named:
                # the model builds memory banks for test and predict only: references drawn here would go unused
                raise ValueError(
                    f"{argument}: few_shot is set on {named}, but few-shot references apply to test_sets and "
                    "predict_sets only. Fix: remove few_shot from these sets."
                )
        if not allow_train_test_overlap:
            _refuse_overlap(self.train_sets, self.test_sets)
        self.train_datasets: list[AnomalyDataset] = []
        self.val_datasets: list[AnomalyDataset] = []
        self.test_datasets: list[AnomalyDataset] = []
        self.predict_datasets: list[AnomalyDataset] = []

    def setup(self, stage: Optional[str] = None) -> None:
        """Read the samples tables the stage needs (no image is decoded here)."""
        if stage in ("fit", None) and not self.train_datasets:
            self.train_datasets = self._datasets(self.train_sets)
        if stage in ("fit", "validate", None) and not self.val_datasets:
            self.val_datasets = self._datasets(self.val_sets)
        if stage in ("test", None) and not self.test_datasets:
            self.test_datasets = self._datasets(self.test_sets, few_shot=self.few_shot)
        if stage in ("predict", None) and not self.predict_datasets:
            self.predict_datasets = self._datasets(self.predict_sets, skip_bad_files=True)

    def train_dataloader(self) -> DataLoader:
        if not self.train_sets:
            raise ValueError("fit needs train_sets: the datasets whose labelled test split trains the prompts.")
        self.setup("fit")
        dataset = ConcatDataset(self.train_datasets)
        if _distributed():
            return self._loader(dataset, sampler=StableShardSampler(dataset, shuffle=self.shuffle), persistent=True)
        return self._loader(dataset, shuffle=self.shuffle, persistent=True)

    def val_dataloader(self) -> list[DataLoader]:
        self.setup("validate")
        return [self._evaluation_loader(dataset, persistent=True) for dataset in self.val_datasets]

    def test_dataloader(self) -> list[DataLoader]:
        if not self.test_sets:
            raise ValueError("test needs test_sets: the datasets to evaluate, one dataloader each.")
        self.setup("test")
        return [self._evaluation_loader(dataset, persistent=False) for dataset in self.test_datasets]

    def predict_dataloader(self) -> list[DataLoader]:
        if not self.predict_sets:
            raise ValueError("predict needs predict_sets: the image folders to score, e.g. [{name: line3, format: images, root: /data/line3}].")
        self.setup("predict")
        return [self._evaluation_loader(dataset, persistent=False) for dataset in self.predict_datasets]

    def _datasets(
        self, specs: Sequence[DatasetSpec], *, skip_bad_files: bool = False, few_shot: Optional[FewShot] = None
    ) -> list[AnomalyDataset]:
        datasets = []
        for spec in specs:
            dataset = AnomalyDataset.from_spec(
                spec, image_size=self.image_size, resize=self.resize, image_cache_dir=self.image_cache_dir, few_shot=few_shot
            )
            dataset.check_files(decode=self.check_files, skip=skip_bad_files)
            datasets.append(dataset)
        return datasets

    def _evaluation_loader(self, dataset: AnomalyDataset, *, persistent: bool) -> DataLoader:
        sampler = NonRepeatingDistributedSampler(dataset) if _distributed() else None
        return self._loader(dataset, sampler=sampler, persistent=persistent)

    def _loader(self, dataset: Dataset, *, shuffle: bool = False, sampler=None, persistent: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=collate,
            pin_memory=self.pin_memory,
            persistent_workers=persistent and self.num_workers > 0,
        )


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def _specs(values: Optional[Sequence[Union[DatasetSpec, Mapping[str, Any]]]], argument: str) -> list[DatasetSpec]:
    if isinstance(values, (Mapping, DatasetSpec, str)):
        raise ValueError(
            f"{argument} must be a list of dataset specs, got one {type(values).__name__}: {values!r}; "
            f"wrap it in a list: {argument}: [{{name: ..., format: ..., root: ...}}]"
        )
    specs = [DatasetSpec.coerce(value) for value in values or []]
    names = [spec.name for spec in specs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{argument}: the name(s) {repeated} are used twice; each set needs its own name.")
    return specs


def _same_data(a: DatasetSpec, b: DatasetSpec) -> bool:
    """Whether two specs can read the same images: one root holds the other, and their classes intersect."""
    root_a = os.path.realpath(os.path.expanduser(a.root))
    root_b = os.path.realpath(os.path.expanduser(b.root))
    nested = root_a == root_b or root_a.startswith(root_b + os.sep) or root_b.startswith(root_a + os.sep)
    if not nested:
        return False
    if root_a == root_b and a.classes is not None and b.classes is not None:
        return bool(set(a.classes) & set(b.classes))
    return True


def _refuse_overlap(train_sets: Sequence[DatasetSpec], test_sets: Sequence[DatasetSpec]) -> None:
    for train in train_sets:
        for test in test_sets:
            if _same_data(train, test):
                raise ValueError(
                    f"train set '{train.name}' ({train.root}) and test set '{test.name}' ({test.root}) read the "
                    "same data: the prompts would be trained on the images they are scored on, which leaks the "
                    "test set. The zero-shot protocol trains on one dataset and tests on the others. Fix: remove "
                    "it from one of the two lists, or pass allow_train_test_overlap=True to do it anyway."
                )
