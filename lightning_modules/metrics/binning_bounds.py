"""How far a metric from histograms can be from the exact metric, computed from the histograms alone.

Binning keeps the order between bins and loses it within a bin, so a binned metric is the exact
metric of the scores moved to their bins' lower edges. Each bin k is a step from the cumulative
counts (TP_{k-1}, FP_{k-1}) to (TP_k, FP_k); the exact curve passes through both ends and moves
monotonically in between, but where is unknown. Each bound below is the worst case over those
unknown paths, so ``|binned - exact| <= bound`` always holds (up to float rounding):

- AUROC: within a bin the ROC area lies between ΔFPR * TPR_{k-1} and ΔFPR * TPR_k and binning
  takes the middle: bound = Σ_k ΔTPR_k ΔFPR_k / 2 (the positive-negative pairs sharing a bin,
  counted as half-correct, as ties). Since Σ_k ΔTPR_k = 1, this is at most half the largest
  share of normal pixels in one bin.
- AP: the exact precision at any threshold inside bin k with a recall gain lies between
  (TP_{k-1} + 1) / (TP_{k-1} + 1 + FP_k) and TP_k / (TP_k + FP_{k-1}); binning uses
  TP_k / (TP_k + FP_k): bound = Σ_k ΔR_k * (largest distance from it to either end).
- F1-max: bin edges are exact thresholds too, so exact >= binned; exact <= max_k of
  2 TP_k / (TP_k + FP_{k-1} + #positives): bound = that maximum - binned.
- AUPRO (mvtec): as AUROC on the PRO(FPR) curve, Σ ΔFPR ΔPRO / 2 over bins below fpr_limit plus
  (cut width) * ΔPRO for the bin cut by fpr_limit, divided by fpr_limit.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .aupro import pro_curve
from .curves import ThresholdCounts, f1_max


def _previous(t: Tensor) -> Tensor:
    return torch.cat([t.new_zeros(1), t[:-1]])


def auroc_bound(binned: ThresholdCounts) -> float:
    if binned.positives <= 0 or binned.negatives <= 0:
        return math.nan
    d_tpr = torch.diff(binned.tps, prepend=binned.tps.new_zeros(1)) / binned.positives
    d_fpr = torch.diff(binned.fps, prepend=binned.fps.new_zeros(1)) / binned.negatives
    return float(torch.sum(d_tpr * d_fpr) / 2)


def average_precision_bound(binned: ThresholdCounts) -> float:
    if binned.positives <= 0 or binned.negatives <= 0:
        return math.nan
    tp, fp = binned.tps, binned.fps
    tp_prev, fp_prev = _previous(tp), _previous(fp)
    gain = tp - tp_prev
    has_gain = gain > 0
    safe_tp = torch.where(has_gain, tp, torch.ones_like(tp))  # bins without a gain add nothing
    binned_precision = safe_tp / (safe_tp + fp)
    highest = safe_tp / (safe_tp + fp_prev)
    lowest = (tp_prev + 1) / (tp_prev + 1 + fp)
    spread = torch.maximum(highest - binned_precision, binned_precision - lowest)
    return float(torch.sum(torch.where(has_gain, gain / binned.positives * spread, torch.zeros_like(tp))))


def f1_max_bound(binned: ThresholdCounts) -> float:
    if binned.positives <= 0 or binned.negatives <= 0:
        return math.nan
    best_inside = torch.max(2 * binned.tps / (binned.tps + _previous(binned.fps) + binned.positives))
    return max(float(best_inside) - f1_max(binned), 0.0)


def aupro_mvtec_bound(binned: ThresholdCounts, n_regions: float, fpr_limit: float = 0.3) -> float:
    if n_regions <= 0 or binned.negatives <= 0:
        return math.nan
    fpr, pro = pro_curve(binned, n_regions)
    f0, f1, d_pro = fpr[:-1], fpr[1:], torch.diff(pro)
    inside = torch.where(f1 <= fpr_limit, (f1 - f0) * d_pro / 2, torch.zeros_like(f0))
    cut = torch.where((f0 < fpr_limit) & (f1 > fpr_limit), (fpr_limit - f0) * d_pro, torch.zeros_like(f0))
    return float(torch.sum(inside + cut)) / fpr_limit
