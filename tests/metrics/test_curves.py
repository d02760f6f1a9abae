import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from lightning_modules.metrics.curves import auroc, average_precision, counts_from_histograms, counts_from_scores, f1_max


def sklearn_f1_max(labels, scores):
    precision, recall, _ = precision_recall_curve(labels, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2 * precision * recall / (precision + recall)
    return np.max(f1[np.isfinite(f1)])


def test_hand_computed_example():
    # Ranked: 0.9 anomaly, 0.8 normal, 0.7 anomaly, 0.1 normal.
    counts = counts_from_scores(torch.tensor([0.8, 0.1, 0.9, 0.7]), torch.tensor([False, False, True, True]))
    assert auroc(counts) == pytest.approx(3 / 4)  # 3 of 4 anomaly-normal pairs ranked right
    assert average_precision(counts) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert f1_max(counts) == pytest.approx(0.8)  # threshold 0.7: P = 2/3, R = 1


def test_sorted_counts_match_sklearn_with_ties():
    g = torch.Generator().manual_seed(1)
    scores = torch.randint(0, 12, (2000,), generator=g) / 11.0  # heavy ties
    labels = torch.rand(2000, generator=g) < 0.2
    counts = counts_from_scores(scores, labels)
    assert auroc(counts) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert average_precision(counts) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    assert f1_max(counts) == pytest.approx(sklearn_f1_max(labels, scores), abs=1e-12)


def test_histogram_metrics_are_exact_metrics_of_scores_at_bin_lower_edges():
    g = torch.Generator().manual_seed(2)
    scores, labels, bins = torch.rand(5000, generator=g), torch.rand(5000, generator=g) < 0.3, 64
    index = torch.floor(scores * bins).long()
    binned = counts_from_histograms(
        torch.bincount(index[labels], minlength=bins).double(),
        torch.bincount(index[~labels], minlength=bins).double(),
        torch.linspace(0, 1, bins + 1, dtype=torch.float64),
    )
    quantised = counts_from_scores(index / bins, labels)
    assert torch.equal(binned.thresholds, quantised.thresholds)
    for metric in (auroc, average_precision, f1_max):
        assert metric(binned) == pytest.approx(metric(quantised), abs=1e-12)


@pytest.mark.parametrize("metric", [auroc, average_precision, f1_max])
def test_one_class_only_gives_nan(metric):
    assert math.isnan(metric(counts_from_scores(torch.rand(10), torch.zeros(10, dtype=torch.bool))))
    assert math.isnan(metric(counts_from_scores(torch.rand(10), torch.ones(10, dtype=torch.bool))))
