import numpy as np
import pytest
import torch

from lightning_modules.metrics.regions import anomalous_pixel_weights, binary_masks_on_cpu, label_regions


def test_diagonal_neighbours_form_one_region():
    masks = np.zeros((1, 5, 5), bool)
    masks[0, [0, 1, 2], [0, 1, 2]] = True  # a diagonal line: one region under 8-connectivity
    masks[0, 4, 4] = True  # two pixels away from (2, 2): a second region
    labels, n_regions = label_regions(masks)
    assert n_regions == 2
    weights, _ = anomalous_pixel_weights(masks)
    np.testing.assert_allclose(weights, [1 / 3, 1 / 3, 1 / 3, 1.0])


def test_regions_never_join_across_masks():
    masks = np.zeros((3, 4, 4), bool)
    masks[0, 1:3, 1:3] = masks[2, 1:3, 1:3] = True  # same place, different images; image 1 normal
    weights, n_regions = anomalous_pixel_weights(masks)
    assert n_regions == 2
    assert weights.sum() == pytest.approx(2.0)  # each region's weights sum to 1


def test_non_binary_mask_is_an_error_naming_the_fix():
    with pytest.raises(ValueError, match="masks > 0.5"):
        binary_masks_on_cpu(torch.tensor([[[0.0, 0.5], [1.0, 1.0]]]))
