"""ROC, precision-recall and F1 from confusion counts at descending thresholds.

Every threshold metric here is a function of the counts of positives and negatives scored at or
above each threshold. Exact metrics take the thresholds from sorted scores (one per distinct
score); streaming metrics take them from histograms (one per non-empty bin, at its lower edge).
The same functions then serve both modes, and a binned result is the exact result of the scores
quantised to their bins' lower edges.

A positive is an anomaly: image label 1, or mask pixel 1. A sample is called anomalous at
threshold t when its score is >= t, as in scikit-learn's curve functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class ThresholdCounts:
    """Cumulative counts at K thresholds, highest threshold first.

    thresholds: float64 [K], strictly decreasing.
    tps, fps: float64 [K], positives / negatives scored >= thresholds[k]; non-decreasing, the last
        entries are the totals (every sample is at or above the lowest threshold).
    region_mass: float64 [K] or None, sum over positives scored >= thresholds[k] of their weight
        1 / (size of their ground-truth region); divided by the region count this is the PRO
        (per-region overlap) at that threshold.
    """

    thresholds: Tensor
    tps: Tensor
    fps: Tensor
    region_mass: Tensor | None = None

    @property
    def positives(self) -> float:
        return float(self.tps[-1]) if self.tps.numel() else 0.0

    @property
    def negatives(self) -> float:
        return float(self.fps[-1]) if self.fps.numel() else 0.0


def counts_from_scores(scores: Tensor, positive: Tensor, region_weight: Tensor | None = None) -> ThresholdCounts:
    """Counts at every distinct score, by one sort.

    scores: float [M], any range; compared as float64.
    positive: bool [M], True for anomalies.
    region_weight: float [M] or None, 1 / region size for positives and 0 for negatives.
    """
    scores = scores.reshape(-1).to(torch.float64)
    positive = positive.reshape(-1).to(torch.bool)
    sorted_scores, order = torch.sort(scores, descending=True)
    positive = positive[order]
    tps = torch.cumsum(positive, 0, dtype=torch.float64)
    fps = torch.cumsum(~positive, 0, dtype=torch.float64)
    region_mass = None
    if region_weight is not None:
        region_mass = torch.cumsum(region_weight.reshape(-1).to(torch.float64)[order], 0)
    # Tied scores form one threshold: keep the last position of each run of equal scores.
    last_of_run = torch.ones_like(positive)
    last_of_run[:-1] = sorted_scores[1:] != sorted_scores[:-1]
    return ThresholdCounts(
        thresholds=sorted_scores[last_of_run],
        tps=tps[last_of_run],
        fps=fps[last_of_run],
        region_mass=None if region_mass is None else region_mass[last_of_run],
    )


def counts_from_histograms(
    positive_hist: Tensor,
    negative_hist: Tensor,
    bin_edges: Tensor,
    region_mass_hist: Tensor | None = None,
) -> ThresholdCounts:
    """Counts at the lower edge of every non-empty bin.

    positive_hist, negative_hist: float64 [B], counts per bin, bin 0 holding the lowest scores.
    bin_edges: float64 [B + 1], ascending.
    region_mass_hist: float64 [B] or None, per bin the sum of positives' region weights.
    """
    # Empty bins would add thresholds with no sample at them; dropping them leaves every curve
    # as it is and keeps precision defined (no 0 / 0 at the top).
    occupied = (positive_hist + negative_hist) > 0
    flip = lambda t: torch.flip(t[occupied], dims=(0,))  # noqa: E731 - highest bin first
    return ThresholdCounts(
        thresholds=flip(bin_edges[:-1].to(torch.float64)),
        tps=torch.cumsum(flip(positive_hist.to(torch.float64)), 0),
        fps=torch.cumsum(flip(negative_hist.to(torch.float64)), 0),
        region_mass=None if region_mass_hist is None else torch.cumsum(flip(region_mass_hist.to(torch.float64)), 0),
    )


def _both_classes(counts: ThresholdCounts) -> bool:
    return counts.positives > 0 and counts.negatives > 0


def _with_origin(t: Tensor) -> Tensor:
    return torch.cat([t.new_zeros(1), t])


def auroc(counts: ThresholdCounts) -> float:
    """Area under the ROC curve (trapezoid; ties count one half), as scikit-learn's roc_auc_score.

    NaN when positives or negatives are missing: the ROC curve is then undefined.
    """
    if not _both_classes(counts):
        return math.nan
    tpr = _with_origin(counts.tps / counts.positives)
    fpr = _with_origin(counts.fps / counts.negatives)
    return float(torch.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1])) / 2)


def average_precision(counts: ThresholdCounts) -> float:
    """Step-wise average precision sum_k (R_k - R_{k-1}) P_k, as scikit-learn's average_precision_score.

    NaN when positives or negatives are missing (scikit-learn would return 1 or -0 there; a
    class without both labels has no meaningful ranking quality).
    """
    if not _both_classes(counts):
        return math.nan
    precision = counts.tps / (counts.tps + counts.fps)
    recall_gain = torch.diff(_with_origin(counts.tps)) / counts.positives
    return float(torch.sum(recall_gain * precision))


def f1_max(counts: ThresholdCounts) -> float:
    """Best F1 = 2PR / (P + R) over all thresholds; NaN when positives or negatives are missing.

    Written as 2 TP / (TP + FP + #positives), which equals 2PR / (P + R) wherever that is finite
    and is 0 where it is 0 / 0, so the maximum matches the maximum over finite values of
    scikit-learn's precision_recall_curve.
    """
    if not _both_classes(counts):
        return math.nan
    return float(torch.max(2 * counts.tps / (counts.tps + counts.fps + counts.positives)))
