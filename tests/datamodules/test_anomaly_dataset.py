"""AnomalyDataset: decodes a samples table into Items (image [3,S,S], mask [S,S], prompt class name, ...)."""

from __future__ import annotations

import re

import pytest
import torch
from torch.utils.data import DataLoader

from datamodules import AnomalyDataset, Batch, DatasetLayoutError, DatasetSpec, collate


def square_mvtec(tree) -> None:
    """16x16 images, so that resizing to 16 is the identity and masks can be checked pixel by pixel."""
    tree.image("metal_nut/test/good/000.png", size=(16, 16), mode="L", value=51)
    tree.image("metal_nut/test/scratch/000.png", size=(16, 16))
    tree.mask("metal_nut/ground_truth/scratch/000_mask.png", size=(16, 16), box=(2, 3, 6, 5))


def test_items_carry_the_resized_image_mask_and_prompt_class_name(tree):
    square_mvtec(tree)
    dataset = AnomalyDataset.from_spec(DatasetSpec("mvtec", "mvtec", str(tree.root)), image_size=16)

    normal, anomalous = dataset[0], dataset[1]  # rows sorted by folder: good, scratch

    assert len(dataset) == 2
    assert (anomalous.label, anomalous.class_name, anomalous.prompt_name, anomalous.dataset_name) == (1, "metal_nut", "metal nut", "mvtec")
    assert (anomalous.fixed_prompts, anomalous.levels, anomalous.is_padding) == ("", "both", False)  # "": the model's family
    # AUPRO region weights come with the item: one 2 x 4 region, each pixel weighing 1/8
    assert torch.equal(anomalous.region_weights, expected_mask_weights())
    assert (normal.index, anomalous.index) == (0, 1)
    assert anomalous.image_path == tree.path("metal_nut/test/scratch/000.png")
    expected_mask = torch.zeros(16, 16)
    expected_mask[3:5, 2:6] = 1
    assert torch.equal(anomalous.mask, expected_mask)
    assert torch.equal(normal.mask, torch.zeros(16, 16))
    assert torch.allclose(normal.image, torch.full((3, 16, 16), 0.2))  # grayscale 51 -> 0.2 in all channels
    assert (normal.has_mask, anomalous.has_mask) == (True, True)  # a normal image's zero mask is exact
    assert dataset.prompt_class_names == ["metal nut"]


def test_a_mask_of_another_size_is_an_error_naming_both_files(tree):
    tree.image("bottle/test/crack/000.png", size=(20, 16))
    tree.mask("bottle/ground_truth/crack/000_mask.png", size=(10, 8))
    dataset = AnomalyDataset.from_spec(DatasetSpec("mvtec", "mvtec", str(tree.root)), image_size=8)

    expected = (f"mask '{tree.path('bottle/ground_truth/crack/000_mask.png')}' is 10x8 but its image "
                f"'{tree.path('bottle/test/crack/000.png')}' is 20x16")
    with pytest.raises(DatasetLayoutError, match=re.escape(expected)):
        dataset[0]


def test_visa_index_masks_and_tn3k_jpeg_masks_are_binarised_per_format(tree):
    tree.image("pcb1/Data/Images/Anomaly/000.JPG", size=(16, 16))
    tree.mask("pcb1/Data/Masks/Anomaly/000.png", size=(16, 16), box=(0, 0, 4, 4), value=1)  # defect index 1
    tree.text("split_csv/1cls.csv", "object,split,label,image,mask\n"
              "pcb1,test,anomaly,pcb1/Data/Images/Anomaly/000.JPG,pcb1/Data/Masks/Anomaly/000.png\n")
    tree.image("tn3k/test-image/0000.jpg", size=(16, 16))
    tree.mask("tn3k/test-mask/0000.jpg", size=(16, 16), box=(3, 0, 9, 16))  # a real JPEG: noise around 0 and 255

    visa = AnomalyDataset.from_spec(DatasetSpec("visa", "visa", str(tree.root)), image_size=16)
    tn3k = AnomalyDataset.from_spec(DatasetSpec("tn3k", "tn3k", tree.path("tn3k")), image_size=16)
    tn3k_at_zero = AnomalyDataset.from_spec(DatasetSpec("t0", "tn3k", tree.path("tn3k"), mask_threshold=0), image_size=16)

    assert visa[0].mask.sum().item() == 16.0
    assert tn3k[0].mask.sum().item() == 96.0  # exactly the 6 x 16 box
    assert tn3k_at_zero[0].mask.sum().item() == 176.0  # "> 0" would count the compression noise


def test_image_level_sets_and_missing_masks_have_no_pixel_ground_truth(tree):
    tree.image("yes/y0.jpg")
    tree.image("no/n0.jpg")
    tree.image("bottle/test/crack/000.png")
    brain = AnomalyDataset.from_spec(DatasetSpec("br35h", "br35h", str(tree.root)), image_size=8)
    allowed_spec = DatasetSpec("m", "mvtec", str(tree.root), allow_missing_masks=True)
    allowed = AnomalyDataset.from_spec(allowed_spec, image_size=8)

    assert [brain[i].has_mask for i in range(2)] == [False, False]
    assert (allowed[0].label, allowed[0].has_mask, allowed[0].mask.sum().item()) == (1, False, 0.0)


def test_class_name_overrides_reach_the_items(tree):
    square_mvtec(tree)
    spec = DatasetSpec("mvtec", "mvtec", str(tree.root), class_names={"metal_nut": "hex nut"})

    item = AnomalyDataset.from_spec(spec, image_size=16)[1]
    assert (item.class_name, item.prompt_name) == ("metal_nut", "hex nut")


def test_workers_decode_and_collate_into_batches(tree):
    square_mvtec(tree)
    dataset = AnomalyDataset.from_spec(DatasetSpec("mvtec", "mvtec", str(tree.root)), image_size=16)

    batches = list(DataLoader(dataset, batch_size=2, num_workers=1, collate_fn=collate))

    assert len(batches) == 1 and isinstance(batches[0], Batch)
    assert batches[0].index.tolist() == [0, 1]
    assert batches[0].label.tolist() == [0, 1]
    assert batches[0].mask.sum().item() == 8.0


def expected_mask_weights():
    weights = torch.zeros(16, 16)
    weights[3:5, 2:6] = 1 / 8
    return weights


def test_an_index_past_the_end_is_the_padding_repeat_of_a_sample(tree):
    square_mvtec(tree)
    dataset = AnomalyDataset.from_spec(DatasetSpec("mvtec", "mvtec", str(tree.root)), image_size=16)
    padding = dataset[len(dataset) + 1]
    assert padding.is_padding and padding.index == 1 and torch.equal(padding.image, dataset[1].image)
    assert dataset.evaluation_plan().classes == ("metal_nut",) and dataset.evaluation_plan().levels == ("image", "pixel")
