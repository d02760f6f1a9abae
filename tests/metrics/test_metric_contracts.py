"""Bad inputs to ImageMetrics and PixelMetrics: each is refused with a message saying what and how to fix.

Shapes and dtypes fail in update; values (which would need the device's answer) fail in compute.
"""

import math

import numpy as np
import pytest
import torch

from lightning_modules.metrics import ImageMetrics, PixelMetrics
from lightning_modules.metrics.regions import region_weights_of_stack

NAN, INF = float("nan"), float("inf")


def image_compute(scores, labels):
    metric = ImageMetrics()
    metric.update(torch.as_tensor(scores), torch.as_tensor(labels))
    return metric.compute()


@pytest.mark.parametrize(
    "scores, message",
    [
        ([0.1, NAN, 0.3, 0.9], r"1 of 4 image scores are not finite \(1 NaN, 0 infinite\)"),  # was AUROC 1.0
        ([NAN, NAN, NAN, NAN], r"4 of 4 image scores are not finite \(4 NaN, 0 infinite\)"),  # was AUROC 0.5
        ([0.1, INF, 0.3, -INF], r"2 of 4 image scores are not finite \(0 NaN, 2 infinite\)"),
    ],
)
def test_non_finite_image_scores_are_an_error(scores, message):
    with pytest.raises(ValueError, match=message + r".*before updating the metric"):
        image_compute(scores, [0, 1, 0, 1])


@pytest.mark.parametrize("labels", [[0, 2, 1], [0.0, 0.5, 1.0], [0, -1, 1]])
def test_labels_other_than_0_and_1_are_an_error(labels):
    with pytest.raises(ValueError, match=r"1 of 3 labels are neither 0 \(normal\) nor 1 \(anomalous\).*\{0, 1\}"):
        image_compute([0.1, 0.2, 0.3], labels)


def test_boolean_labels_are_taken():
    assert image_compute([0.1, 0.9, 0.4], [False, True, False])["auroc"] == 1.0


@pytest.mark.parametrize(
    "scores, labels, index, message",
    [
        (torch.rand(2), torch.tensor([1]), None, r"scores \(2,\), labels \(1,\) and index none must hold one entry"),
        (torch.rand(3), torch.tensor([0, 1, 0]), torch.arange(2), r"index \(2,\) must hold one entry per image"),
        (torch.rand(3, 1), torch.tensor([0, 1, 0]), None, r"scores must be one-dimensional \[N\].*got shape \(3, 1\)"),
        (torch.rand(3), torch.tensor([0, 1, 0]), torch.tensor([0.0, 1.0, 2.0]), "index must be an integer tensor"),
        (torch.tensor([True, False]), torch.tensor([0, 1]), None, "scores must hold real numbers, got dtype torch.bool"),
    ],
)
def test_image_shapes_and_dtypes_fail_in_update(scores, labels, index, message):
    with pytest.raises(ValueError, match=message):
        ImageMetrics().update(scores, labels, index)


def test_image_scores_as_a_list_are_refused():
    with pytest.raises(TypeError, match="scores must be a torch.Tensor.*torch.as_tensor"):
        ImageMetrics().update([0.1, 0.2], torch.tensor([0, 1]))


def pixel_inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[1, 2:5, 3:6] = True
    return torch.rand(2, 8, 8, generator=g), masks


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_non_finite_map_values_fail_at_compute_not_in_update(exact, bad):
    maps, masks = pixel_inputs()
    maps[1, 3, 4] = bad
    metric = PixelMetrics(exact=exact)
    metric.update(maps, masks)  # formerly a bincount error here, after all the work
    metric.update(*pixel_inputs(seed=1))
    with pytest.raises(ValueError, match=r"1 of 256 anomaly-map values are NaN or infinite; find where"):
        metric.compute()


def test_maps_outside_score_range_are_counted():
    maps, masks = pixel_inputs()
    maps[0, 0, :3] = torch.tensor([1.5, -0.25, 1.0 + 1e-7])  # the last one is rounding, within the slack
    metric = PixelMetrics()
    metric.update(maps, masks)
    with pytest.raises(ValueError, match=r"2 of 128 anomaly-map values lie outside score_range=\(0.0, 1.0\) \(the maps span \[-0.25, 1.5\]\)"):
        metric.compute()


def test_non_binary_masks_fail_in_update_on_the_mask_only_path():
    maps, masks = pixel_inputs()
    with pytest.raises(ValueError, match=r"found 0\.5 \(1 such pixels\).*masks > 0.5"):
        PixelMetrics().update(maps, torch.where(masks, 1.0, 0.0).index_put_((torch.tensor([0]),) * 3, torch.tensor(0.5)))


def test_non_binary_masks_fail_at_compute_on_the_device_path():
    maps, masks = pixel_inputs()
    weights = torch.from_numpy(region_weights_of_stack(masks.numpy()))
    soft = masks.float() * 255  # an 8-bit PNG mask that was never divided by 255
    metric = PixelMetrics()
    metric.update(maps, soft, region_weights=weights)
    with pytest.raises(ValueError, match=r"9 mask values are neither 0 nor 1; binarise"):
        metric.compute()


def test_region_weights_of_other_masks_fail_at_compute():
    maps, masks = pixel_inputs()
    shifted = torch.from_numpy(region_weights_of_stack(torch.roll(masks, 1, dims=2).numpy()))
    metric = PixelMetrics()
    metric.update(maps, masks, region_weights=shifted)
    with pytest.raises(ValueError, match=r"region_weights disagree with their masks at 6 pixels.*region_weights=None"):
        metric.compute()


@pytest.mark.parametrize(
    "maps, masks, weights, message",
    [
        (torch.rand(2, 8, 8), torch.zeros(2, 8, 9), None, r"maps \(2, 8, 8\) and masks \(2, 8, 9\) must have the same"),
        (torch.rand(8, 8), torch.zeros(8, 8), None, r"maps must be \[N, H, W\] or \[N, 1, H, W\].*maps\[None\]"),
        (torch.randint(0, 2, (2, 8, 8)), torch.zeros(2, 8, 8), None, "maps must be a floating-point tensor, got torch.int64"),
        (torch.rand(2, 8, 8), torch.zeros(2, 8, 8), torch.zeros(1, 8, 8), r"region_weights \(1, 8, 8\) must have the masks' shape"),
        (torch.rand(2, 8, 8), torch.zeros(2, 8, 8), torch.zeros(2, 8, 8, dtype=torch.long), "region_weights must be a floating-point"),
        (torch.rand(2, 8, 8), torch.zeros(2, 8, 8), torch.zeros(2, 8, 8, dtype=torch.bfloat16), "region_weights are torch.bfloat16.*'bf16-mixed'"),
    ],
)
def test_pixel_shapes_and_dtypes_fail_in_update(maps, masks, weights, message):
    with pytest.raises(ValueError, match=message):
        PixelMetrics().update(maps, masks, region_weights=weights)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"score_range": (0.0, INF)}, r"score_range must be \(low, high\), two finite numbers"),
        ({"score_range": (NAN, 1.0)}, "score_range must be"),
        ({"score_range": (1.0, 0.0)}, "score_range must be"),
        ({"bins": 2.5}, r"bins must be an integer >= 2, got 2.5"),
        ({"fpr_limit": NAN}, r"fpr_limit must be a number in \(0, 1\], got nan"),
        ({"fpr_limit": 0.0}, "fpr_limit must be"),
        ({"exact": "yes"}, "exact must be True or False, got 'yes'"),
        ({"aupro_definition": "pro"}, "aupro_definition must be 'mvtec' or 'reference', got 'pro'"),
    ],
)
def test_pixel_constructor_arguments_fail_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PixelMetrics(**kwargs)


def test_empty_batches_add_nothing():
    maps, masks = pixel_inputs()
    metric = PixelMetrics()
    metric.update(maps[:0], masks[:0], region_weights=torch.zeros(0, 8, 8))
    metric.update(maps, masks)
    expected = PixelMetrics()
    expected.update(maps, masks)
    assert metric.compute() == expected.compute()
    assert not math.isnan(expected.compute()["aupro"])


def test_device_path_update_never_reads_the_device():
    # On the meta device every host read (.item(), bool(), .cpu(), .numpy()) raises, so an
    # update that completes there would not synchronise a GPU either.
    maps, masks = pixel_inputs()
    weights = torch.from_numpy(region_weights_of_stack(masks.numpy()))
    for metric in (PixelMetrics().to("meta"), PixelMetrics(aupro_definition="reference").to("meta")):
        metric.update(maps.to("meta"), masks.to("meta"), region_weights=weights.to("meta"))
        metric.update(maps.to("meta"), masks.float().to("meta"), region_weights=weights.to("meta"))
        assert metric.normal_hist.device.type == "meta"
    image = ImageMetrics().to("meta")
    image.update(torch.rand(2, device="meta"), torch.ones(2, device="meta"), torch.arange(2, device="meta"))
    with pytest.raises(NotImplementedError):  # the mask-only path labels regions on the host
        PixelMetrics().to("meta").update(maps.to("meta"), masks.to("meta"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_device_path_update_does_not_synchronise_cuda():
    maps, masks = pixel_inputs()
    weights = torch.from_numpy(region_weights_of_stack(masks.numpy())).cuda()
    pixel, image = PixelMetrics().cuda(), ImageMetrics().cuda()
    maps, masks = maps.cuda(), masks.cuda()
    torch.cuda.set_sync_debug_mode("error")
    try:
        pixel.update(maps, masks, region_weights=weights)
        image.update(maps.amax((1, 2)), masks.flatten(1).any(1), torch.arange(2, device="cuda"))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    expected = PixelMetrics()
    expected.update(maps.cpu(), masks.cpu())
    assert pixel.compute() == pytest.approx(expected.compute(), abs=1e-12)


def test_region_weights_on_masks_must_be_binary_too():
    with pytest.raises(ValueError, match=r"mask values must be 0 or 1, found 2"):
        region_weights_of_stack(np.full((1, 2, 2), 2))
