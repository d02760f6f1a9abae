import numpy as np
import pytest
import torch

from lightning_modules.metrics import PixelMetrics
from lightning_modules.metrics.regions import (
    binary_masks_on_cpu,
    label_regions,
    region_sizes_from_weights,
    region_weights,
    region_weights_of_stack,
)


def test_diagonal_neighbours_form_one_region():
    mask = np.zeros((5, 5), bool)
    mask[[0, 1, 2], [0, 1, 2]] = True  # a diagonal line: one region under 8-connectivity
    mask[4, 4] = True  # two pixels away from (2, 2): a second region
    _, n_regions = label_regions(mask[None])
    assert n_regions == 2
    weights = region_weights(mask)
    assert weights.dtype == np.float32
    np.testing.assert_array_equal(weights[mask], np.float32([1 / 3, 1 / 3, 1 / 3, 1.0]))
    assert weights[~mask].max() == 0


def test_regions_never_join_across_masks():
    masks = np.zeros((3, 4, 4), bool)
    masks[0, 1:3, 1:3] = masks[2, 1:3, 1:3] = True  # same place, different images; image 1 normal
    weights = region_weights_of_stack(masks)
    assert weights.sum() == pytest.approx(2.0)  # each region's weights sum to 1
    np.testing.assert_array_equal(weights[0], region_weights(masks[0]))


def test_region_sizes_are_recovered_exactly_from_float32_weights():
    # 1 / s is not a float32 for most s; its reciprocal still rounds back to s below 2**23.
    sizes = torch.tensor([1, 3, 7, 49, 99_999, 268_324, 2**23 - 1], dtype=torch.float64)
    weights = (1.0 / sizes).to(torch.float32)
    assert torch.equal(region_sizes_from_weights(weights), sizes)
    assert region_sizes_from_weights(torch.zeros(2)).tolist() == [0.0, 0.0]


def test_non_binary_mask_is_an_error_naming_the_fix():
    with pytest.raises(ValueError, match=r"found 0\.5 \(1 such pixels\).*masks > 0.5"):
        binary_masks_on_cpu(torch.tensor([[[0.0, 0.5], [1.0, 1.0]]]))
    with pytest.raises(ValueError, match="masks > 0.5"):
        region_weights(np.array([[0, 255], [0, 0]], np.uint8))  # an 8-bit PNG mask read as is


def test_region_weights_take_one_mask():
    with pytest.raises(ValueError, match=r"one mask \[H, W\], got shape \(1, 2, 2\)"):
        region_weights(np.zeros((1, 2, 2), bool))


def test_worker_weights_give_exactly_the_mask_only_results(random_maps, realistic_maps):
    # What the data workers do: one region_weights call per mask, collated into a float32 batch.
    for maps, masks in (random_maps(6, 24, seed=12), realistic_maps(6, 64, seed=13)):
        for kwargs in ({}, {"exact": True}, {"aupro_definition": "reference"}):
            from_masks, from_workers = PixelMetrics(**kwargs), PixelMetrics(**kwargs)
            for batch in torch.arange(len(maps)).split(4):
                weights = torch.from_numpy(np.stack([region_weights(m.numpy()) for m in masks[batch]]))
                from_masks.update(maps[batch], masks[batch])
                from_workers.update(maps[batch], masks[batch], region_weights=weights)
            expected = from_masks.compute()
            assert from_workers.compute() == expected
            assert 0 < expected["aupro"] < 1  # regions were found and used
            assert int(from_workers.n_regions) == label_regions(masks.numpy())[1]
