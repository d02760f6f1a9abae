import math

import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from lightning_modules.metrics import ImageMetrics
from test_curves import sklearn_f1_max


def test_matches_sklearn_over_batches_with_ties():
    g = torch.Generator().manual_seed(0)
    scores = torch.round(torch.rand(301, generator=g, dtype=torch.float64) * 20) / 20
    labels = (torch.rand(301, generator=g) < 0.4).long()
    metric = ImageMetrics()
    for batch in torch.arange(301).split(32):
        metric.update(scores[batch], labels[batch])
    result = metric.compute()
    assert set(result) == {"auroc", "ap", "f1_max"}
    assert result["auroc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert result["ap"] == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    assert result["f1_max"] == pytest.approx(sklearn_f1_max(labels.numpy(), scores.numpy()), abs=1e-12)


def test_scores_outside_unit_interval_are_ranked_as_given():
    # A per-batch sigmoid would move the second batch below the first (sigmoid(1.5) < 0.9) and
    # make this AUROC 1; the raw ranking 2.5+ > 1.5- > 0.95+ > 0.9- gives 3 of 4 pairs.
    metric = ImageMetrics()
    metric.update(torch.tensor([0.9, 0.95]), torch.tensor([0, 1]))
    metric.update(torch.tensor([1.5, 2.5]), torch.tensor([0, 1]))
    assert metric.compute()["auroc"] == pytest.approx(0.75)


def test_large_logits_do_not_saturate_into_ties():
    metric = ImageMetrics()
    metric.update(torch.tensor([30.0, 40.0, 35.0]), torch.tensor([0, 1, 1]))  # sigmoid: all 1.0 in float32
    assert metric.compute() == {"auroc": 1.0, "ap": 1.0, "f1_max": 1.0}


def test_repeated_index_counts_once():
    # A DistributedSampler pads 5 samples on 2 ranks with a repeat of sample 0 (label 1, lowest score).
    scores, labels = torch.tensor([0.1, 0.7, 0.4, 0.8, 0.3]), torch.tensor([1, 0, 0, 1, 1])
    once = ImageMetrics()
    once.update(scores, labels)
    padded = ImageMetrics()
    padded.update(scores[[0, 2, 4]], labels[[0, 2, 4]], index=torch.tensor([0, 2, 4]))
    padded.update(scores[[1, 3, 0]], labels[[1, 3, 0]], index=torch.tensor([1, 3, 0]))
    assert padded.compute() == once.compute()
    assert once.compute()["auroc"] == pytest.approx(roc_auc_score(labels, scores))

    without_index = ImageMetrics()
    without_index.update(scores[[0, 2, 4, 1, 3, 0]], labels[[0, 2, 4, 1, 3, 0]])
    assert without_index.compute()["auroc"] != pytest.approx(once.compute()["auroc"])


def test_class_with_only_normal_images_gives_nan():
    metric = ImageMetrics()
    metric.update(torch.rand(6), torch.zeros(6))
    assert all(math.isnan(v) for v in metric.compute().values())


def test_index_on_some_updates_only_is_an_error():
    metric = ImageMetrics()
    metric.update(torch.rand(3), torch.tensor([0, 1, 0]), index=torch.arange(3))
    metric.update(torch.rand(2), torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="on every update"):
        metric.compute()


def test_compute_on_cpu_is_refused():
    with pytest.raises(ValueError, match="compute_on_cpu"):
        ImageMetrics(compute_on_cpu=True)


def test_per_step_sync_is_refused():
    with pytest.raises(ValueError, match="dist_sync_on_step"):
        ImageMetrics(dist_sync_on_step=True)
