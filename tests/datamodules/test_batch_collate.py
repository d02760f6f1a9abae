"""Batch: the typed container a model receives; it must survive Lightning's device transfer."""

from __future__ import annotations

import pytest
import torch
from lightning.fabric.utilities.apply_func import move_data_to_device
from lightning.pytorch.utilities.data import extract_batch_size

from datamodules import Batch, Item, collate


def item(index: int, label: int) -> Item:
    return Item(image=torch.full((3, 4, 4), index / 10), mask=torch.full((4, 4), float(label)), label=label,
                class_name="metal nut", dataset_name="mvtec", image_path=f"/data/{index}.png", index=index,
                has_mask=bool(label))


def test_collate_stacks_tensors_and_lists_strings():
    batch = collate([item(3, 1), item(5, 0)])

    assert len(batch) == 2
    assert batch.image.shape == (2, 3, 4, 4) and batch.mask.shape == (2, 4, 4)
    assert batch.label.tolist() == [1, 0] and batch.label.dtype == torch.long
    assert batch.index.tolist() == [3, 5] and batch.index.dtype == torch.long
    assert batch.has_mask.tolist() == [True, False] and batch.has_mask.dtype == torch.bool
    assert batch.class_name == ["metal nut", "metal nut"]
    assert batch.prompt_name == ["metal nut", "metal nut"]  # prompt words default to the class name
    assert batch.is_padding == [False, False] and batch.region_weights is None
    assert batch.image_path == ["/data/3.png", "/data/5.png"]


def test_to_and_lightning_transfer_return_a_batch_with_the_same_values():
    batch = collate([item(3, 1), item(5, 0)])

    moved = move_data_to_device(batch, torch.device("cpu"))  # what transfer_batch_to_device does
    copied = batch.to("cpu")

    for result in (moved, copied):
        assert isinstance(result, Batch)
        assert torch.equal(result.image, batch.image) and torch.equal(result.index, batch.index)
        assert result.dataset_name == ["mvtec", "mvtec"]


@pytest.mark.filterwarnings("ignore:Trying to infer the `batch_size`")  # the string lists make it "ambiguous"
def test_lightning_infers_the_batch_size_from_the_first_tensor():
    assert extract_batch_size(collate([item(0, 0), item(1, 0), item(2, 1)])) == 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="pinned memory and device copies need a GPU")
def test_pinned_batches_move_to_the_gpu():
    from torch.utils.data import DataLoader

    batches = list(DataLoader([item(0, 1), item(1, 0)], batch_size=2, collate_fn=collate, pin_memory=True))
    moved = batches[0].to("cuda", non_blocking=True)

    assert batches[0].image.is_pinned() and batches[0].mask.is_pinned()
    assert moved.image.is_cuda and moved.index.is_cuda and moved.image_path == batches[0].image_path
