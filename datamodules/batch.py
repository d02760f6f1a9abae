"""Typed containers for one sample (`Item`) and a collated batch (`Batch`).

`Batch` is a plain (non-frozen) dataclass, which Lightning moves to the device field by field
(`transfer_batch_to_device` -> lightning_utilities' apply_to_collection). When logging inside a step, pass
`batch_size=len(batch)`: Lightning's batch size inference also walks the string lists and would warn.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import torch


@dataclass
class Item:
    """One decoded sample, as a dataset returns it.

    Attributes:
        image: float32 [3, S, S] in [0, 1].
        mask: float32 [S, S] of {0, 1}; all zeros when the sample has no mask.
        label: 0 normal, 1 anomalous (-1 unknown, for unlabelled prediction folders).
        class_name: the reader's class name ("metal_nut"): the key of metrics and results rows.
        dataset_name: the set's `DatasetSpec.name`.
        image_path: absolute path of the image file.
        index: the sample's row in its dataset's samples table.
        has_mask: whether `mask` is pixel ground truth (see `AnomalyDataset`).
        prompt_name: the class words the prompts use ("metal nut").
        fixed_prompts: the set's prompt family ("industrial", "medical", ...); "" for the model's own.
        levels: the set's metric levels ("image", "pixel" or "both").
        fingerprint: content hash of `image` (the feature cache's key; see feature_cache.image_fingerprint).
        is_padding: a repeat added so that every DDP rank has a sample; never counted in metrics.
        region_weights: float32 [S, S], 1 / (size of its 8-connected anomalous region) on anomalous pixels,
            0 elsewhere (AUPRO's weights, computed in the worker so metric updates need no CPU); or None.
    """

    image: torch.Tensor
    mask: torch.Tensor
    label: int
    class_name: str
    dataset_name: str
    image_path: str
    index: int
    has_mask: bool
    prompt_name: str = ""
    fixed_prompts: str = ""
    levels: str = "both"
    fingerprint: str = ""
    is_padding: bool = False
    region_weights: Optional[torch.Tensor] = None


@dataclass
class Batch:
    """A batch of B samples.

    Attributes:
        image: float32 [B, 3, S, S] in [0, 1] (no mean/std normalisation).
        mask: float32 [B, S, S] of {0, 1}; all zeros for samples without a mask.
        label: int64 [B], 0 normal / 1 anomalous (-1 unknown).
        class_name: B reader class names ("metal_nut", "pcb1"): the keys of metrics and results.
        dataset_name: B set names (`DatasetSpec.name`).
        image_path: B absolute image paths.
        index: int64 [B], each sample's row in its dataset's samples table.
        has_mask: bool [B], whether `mask` is pixel ground truth: True for anomalous images with a mask and
            for normal images of a set with pixel-level ground truth (their all-zero mask is exact).
        prompt_name: B prompt class words ("metal nut").
        fixed_prompts: B prompt families ("" = the model's own).
        levels: B metric levels of each sample's set.
        fingerprint: B content hashes of the images.
        is_padding: B host-side flags of DDP padding repeats (kept as Python bools: reading them needs no sync).
        pixel_truth: B host-side flags: whether the sample's mask is pixel ground truth (`has_mask`, or a
            normal image), so a GPU step picks the rows for pixel metrics without reading `has_mask` back.
        region_weights: float32 [B, S, S] AUPRO region weights, or None when the items carry none.
    """

    image: torch.Tensor
    mask: torch.Tensor
    label: torch.Tensor
    class_name: list[str]
    dataset_name: list[str]
    image_path: list[str]
    index: torch.Tensor
    has_mask: torch.Tensor
    prompt_name: list[str] = dataclasses.field(default_factory=list)
    fixed_prompts: list[str] = dataclasses.field(default_factory=list)
    levels: list[str] = dataclasses.field(default_factory=list)
    fingerprint: list[str] = dataclasses.field(default_factory=list)
    is_padding: list[bool] = dataclasses.field(default_factory=list)
    pixel_truth: list[bool] = dataclasses.field(default_factory=list)
    region_weights: Optional[torch.Tensor] = None

    def __len__(self) -> int:
        return self.image.shape[0]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """A copy with every tensor on `device`; the string lists are shared."""
        return dataclasses.replace(
            self,
            **{
                field.name: value.to(device, non_blocking=non_blocking)
                for field in dataclasses.fields(self)
                if isinstance(value := getattr(self, field.name), torch.Tensor)
            },
        )

    def pin_memory(self) -> Batch:
        """Called by DataLoader(pin_memory=True) on custom batch types."""
        return dataclasses.replace(
            self,
            **{
                field.name: value.pin_memory()
                for field in dataclasses.fields(self)
                if isinstance(value := getattr(self, field.name), torch.Tensor)
            },
        )


def collate(items: Sequence[Item]) -> Batch:
    """Stack `Item`s into a `Batch` (the DataLoader's collate_fn)."""
    if not items:
        raise ValueError("cannot collate an empty list of items")
    return Batch(
        image=torch.stack([item.image for item in items]),
        mask=torch.stack([item.mask for item in items]),
        label=torch.tensor([item.label for item in items], dtype=torch.long),
        class_name=[item.class_name for item in items],
        dataset_name=[item.dataset_name for item in items],
        image_path=[item.image_path for item in items],
        index=torch.tensor([item.index for item in items], dtype=torch.long),
        has_mask=torch.tensor([item.has_mask for item in items], dtype=torch.bool),
        prompt_name=[item.prompt_name or item.class_name for item in items],
        fixed_prompts=[item.fixed_prompts for item in items],
        levels=[item.levels for item in items],
        fingerprint=[item.fingerprint for item in items],
        is_padding=[item.is_padding for item in items],
        pixel_truth=[bool(item.has_mask or item.label == 0) for item in items],
        region_weights=torch.stack([item.region_weights for item in items]) if all(item.region_weights is not None for item in items) else None,
    )
