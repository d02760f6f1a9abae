"""Per-dataset, per-class metrics, declared by the sets before the first batch."""

import math

import pytest
import torch

from datamodules.plan import SetPlan
from lightning_modules.metrics import ImageMetrics, PixelMetrics
from lightning_modules.tipsomaly.evaluation import ClassMetrics, plan_of


def _batch(n=6, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.tensor([0, 1] * (n // 2))
    masks = torch.zeros(n, size, size)
    masks[labels == 1, 2:5, 2:5] = 1
    maps = (torch.rand(n, size, size, generator=g) * 0.5 + masks * 0.4).clamp(0, 1)
    scores = torch.rand(n, generator=g) + labels * 0.3
    return scores, labels, torch.arange(n), maps, masks


BOTH = ("image", "pixel")


def test_each_class_gets_its_own_metrics():
    scores, labels, index, maps, masks = _batch()
    classes = ["a", "a", "b", "b", "a", "b"]
    metrics = ClassMetrics([SetPlan("set", ("a", "b"), BOTH)], exact_pixels=True)
    metrics.update(["set"] * 6, classes, scores, labels, index, maps, masks, torch.ones(6, dtype=torch.bool))
    results, failures = metrics.results()
    assert [(r.dataset, r.class_name) for r in results] == [("set", "a"), ("set", "b")] and failures == []
    rows = torch.tensor([c == "a" for c in classes])
    expected = ImageMetrics()
    expected.update(scores[rows], labels[rows])
    assert results[0].image == expected.compute()
    expected_pixels = PixelMetrics(exact=True)
    expected_pixels.update(maps[rows], masks[rows])
    assert results[0].pixel == expected_pixels.compute()


def test_padding_rows_are_not_counted():
    scores, labels, index, maps, masks = _batch()
    padded = ClassMetrics([SetPlan("set", ("a",), BOTH)], exact_pixels=True)
    # rows 4 and 5 are DDP padding repeats carrying deliberately wrong scores
    wrong = scores.clone()
    wrong[4:] = torch.tensor([5.0, -5.0])
    padded.update(["set"] * 6, ["a"] * 6, wrong, labels, index, maps, masks, torch.ones(6, dtype=torch.bool), is_padding=[False] * 4 + [True] * 2)
    plain = ClassMetrics([SetPlan("set", ("a",), BOTH)], exact_pixels=True)
    plain.update(["set"] * 4, ["a"] * 4, scores[:4], labels[:4], index[:4], maps[:4], masks[:4], torch.ones(4, dtype=torch.bool))
    assert padded.results()[0][0] == plain.results()[0][0]


def test_image_only_sets_have_no_pixel_results():
    scores, labels, index, maps, masks = _batch()
    metrics = ClassMetrics([SetPlan("headct", ("brain",), ("image",))])
    metrics.update(["headct"] * 6, ["brain"] * 6, scores, labels, index, maps, masks, torch.zeros(6, dtype=torch.bool))
    ((result,), _) = metrics.results()
    assert result.pixel is None and not math.isnan(result.image["auroc"])


def test_anomalous_images_without_masks_stay_out_of_pixel_metrics():
    scores, labels, index, maps, masks = _batch()
    has_mask = labels == 0  # every anomalous image lacks its mask (allowed by the user)
    metrics = ClassMetrics([SetPlan("set", ("a",), BOTH)], exact_pixels=True)
    metrics.update(["set"] * 6, ["a"] * 6, scores, labels, index, maps, masks, has_mask)
    ((result,), _) = metrics.results()
    assert math.isnan(result.pixel["auroc"])  # only normal pixels reached the pixel metrics
    assert not math.isnan(result.image["auroc"])


def test_results_follow_the_plans_order_even_for_classes_never_seen():
    scores, labels, index, maps, masks = _batch()
    metrics = ClassMetrics([SetPlan("visa", ("x", "y"), ("image",)), SetPlan("btad", ("x",), ("image",))])
    metrics.update(["btad"] * 6, ["x"] * 6, scores, labels, index, maps, masks, torch.ones(6, dtype=torch.bool))
    results, _ = metrics.results()
    assert [(r.dataset, r.class_name) for r in results] == [("visa", "x"), ("visa", "y"), ("btad", "x")]
    assert math.isnan(results[0].image["auroc"]) and not math.isnan(results[2].image["auroc"])


def test_a_class_the_set_did_not_declare_is_refused():
    scores, labels, index, maps, masks = _batch()
    metrics = ClassMetrics([SetPlan("set", ("a",), ("image",))])
    with pytest.raises(ValueError, match="class 'b' of set 'set', which the set did not declare"):
        metrics.update(["set"] * 6, ["b"] * 6, scores, labels, index, maps, masks, torch.ones(6, dtype=torch.bool))


def test_a_failing_class_is_reported_and_the_others_still_computed():
    scores, labels, index, maps, masks = _batch()
    maps[0, 0, 0] = float("nan")
    classes = ["a", "b"] * 3
    metrics = ClassMetrics([SetPlan("set", ("a", "b"), BOTH)])
    metrics.update(["set"] * 6, classes, scores, labels, index, maps, masks, torch.ones(6, dtype=torch.bool))
    results, failures = metrics.results()
    assert [(f.dataset, f.class_name) for f in failures] == [("set", "a")]
    assert math.isnan(results[0].pixel["auroc"]) and not math.isnan(results[1].pixel["auroc"])


def test_a_dataset_without_a_plan_is_refused_with_the_fix():
    with pytest.raises(TypeError, match="test dataloader 0 wraps a list, which does not declare its classes"):
        plan_of([1, 2], "test dataloader 0")
