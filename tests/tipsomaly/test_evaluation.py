"""Per-dataset, per-class metric bookkeeping of test runs."""

import math

import torch

from lightning_modules.metrics import ImageMetrics, PixelMetrics
from lightning_modules.tipsomaly.evaluation import ClassMetrics


def _batch(n=6, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.tensor([0, 1] * (n // 2))
    masks = torch.zeros(n, size, size)
    masks[labels == 1, 2:5, 2:5] = 1
    maps = (torch.rand(n, size, size, generator=g) * 0.5 + masks * 0.4).clamp(0, 1)
    scores = torch.rand(n, generator=g) + labels * 0.3
    return scores, labels, torch.arange(n), maps, masks


def test_each_class_gets_its_own_metrics():
    scores, labels, index, maps, masks = _batch()
    classes = ["a", "a", "b", "b", "a", "b"]
    metrics = ClassMetrics(exact_pixels=True)
    metrics.update("set", ("image", "pixel"), classes, scores, labels, index, maps, masks, torch.ones(6, dtype=torch.bool))
    results = metrics.results(torch.device("cpu"))
    assert [(r.dataset, r.class_name) for r in results] == [("set", "a"), ("set", "b")]
    rows = torch.tensor([c == "a" for c in classes])
    expected = ImageMetrics()
    expected.update(scores[rows], labels[rows])
    assert results[0].image == expected.compute()
    expected_pixels = PixelMetrics(exact=True)
    expected_pixels.update(maps[rows], masks[rows])
    assert results[0].pixel == expected_pixels.compute()


def test_image_only_sets_have_no_pixel_results():
    scores, labels, index, maps, masks = _batch()
    metrics = ClassMetrics()
    metrics.update("headct", ("image",), ["brain"] * 6, scores, labels, index, maps, masks, torch.zeros(6, dtype=torch.bool))
    (result,) = metrics.results(torch.device("cpu"))
    assert result.pixel is None and not math.isnan(result.image["auroc"])


def test_anomalous_images_without_masks_stay_out_of_pixel_metrics():
    scores, labels, index, maps, masks = _batch()
    has_mask = labels == 0  # every anomalous image lacks its mask (allowed by the user)
    metrics = ClassMetrics(exact_pixels=True)
    metrics.update("set", ("image", "pixel"), ["a"] * 6, scores, labels, index, maps, masks, has_mask)
    (result,) = metrics.results(torch.device("cpu"))
    assert math.isnan(result.pixel["auroc"])  # only normal pixels reached the pixel metrics
    assert not math.isnan(result.image["auroc"])


def test_datasets_come_in_the_given_order():
    scores, labels, index, maps, masks = _batch()
    metrics = ClassMetrics()
    for name in ("visa", "btad"):
        metrics.update(name, ("image",), ["x"] * 6, scores, labels, index, maps, masks, torch.ones(6, dtype=torch.bool))
    assert [r.dataset for r in metrics.results(torch.device("cpu"), dataset_order=["visa", "btad"])] == ["visa", "btad"]
    assert [r.dataset for r in metrics.results(torch.device("cpu"))] == ["btad", "visa"]
