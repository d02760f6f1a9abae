"""Area under the per-region overlap (PRO) curve, in two definitions.

PRO at threshold t is the mean over all ground-truth regions (8-connected components of all masks)
of the fraction of the region's pixels flagged anomalous; FPR is the fraction of normal pixels
flagged anomalous. Summing, over the flagged anomalous pixels, the weight 1 / (size of their
region) and dividing by the number of regions gives PRO; that is how both definitions get PRO
from cumulative counts instead of a loop over regions.

- ``mvtec`` (the MVTec AD evaluation): every distinct score is a threshold, a pixel is flagged
  when its score is >= t, the curve starts at (0, 0), and the area under PRO(FPR) for FPR in
  [0, fpr_limit] (trapezoid, PRO interpolated at fpr_limit) is divided by fpr_limit.
- ``reference`` (the TIPS paper's code, for comparison with its Table 1): 200 thresholds
  ``torch.arange(min, max, (max - min) / 200)`` in float32, a pixel is flagged when its score
  is > t, points with FPR < fpr_limit are kept, their FPRs are min-max rescaled to [0, 1], and
  the trapezoid area of PRO over the rescaled FPR is returned. FPRs are rounded to float32 as
  that code does (it builds them with ``torch.tensor`` of Python floats).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .curves import ThresholdCounts

REFERENCE_STEPS = 200


def area_up_to(x: Tensor, y: Tensor, limit: float) -> float:
    """Trapezoid area under the polyline through (x, y) over x in [x[0], limit].

    x: float64 [P], non-decreasing; y: float64 [P]. The polyline is cut at ``limit`` with y
    linearly interpolated there; segments to the right of ``limit`` add nothing.
    """
    x0, x1, y0, y1 = x[:-1], x[1:], y[:-1], y[1:]
    right = torch.clamp(x1, max=limit)
    width = torch.clamp(right - x0, min=0)
    # Zero-width segments (vertical steps) add nothing; guard their 0 / 0 slope.
    sloped = x1 > x0
    slope = torch.where(sloped, (y1 - y0) / torch.where(sloped, x1 - x0, torch.ones_like(x0)), torch.zeros_like(x0))
    y_right = y0 + slope * (right - x0)
    return float(torch.sum(width * (y0 + y_right) / 2))


def pro_curve(counts: ThresholdCounts, n_regions: float) -> tuple[Tensor, Tensor]:
    """(FPR, PRO) at every threshold of ``counts``, preceded by the origin; float64 [K + 1] each."""
    zero = counts.fps.new_zeros(1)
    fpr = torch.cat([zero, counts.fps / counts.negatives])
    pro = torch.cat([zero, counts.region_mass / n_regions])
    return fpr, pro


def aupro_mvtec(counts: ThresholdCounts, n_regions: float, fpr_limit: float = 0.3) -> float:
    """Normalised area under PRO(FPR) for FPR in [0, fpr_limit], in [0, 1].

    counts: from ``counts_from_scores`` or ``counts_from_histograms`` with region_mass.
    NaN when there is no region or no normal pixel.
    """
    if n_regions <= 0 or counts.negatives <= 0:
        return math.nan
    fpr, pro = pro_curve(counts, n_regions)
    return area_up_to(fpr, pro, fpr_limit) / fpr_limit


def reference_thresholds(min_score: float, max_score: float, steps: int = REFERENCE_STEPS) -> Tensor:
    """The paper code's thresholds: float32 [~steps], from min_score up to (not including) max_score.

    ``torch.arange`` decides the count from float arithmetic, so it can be steps + 1; kept as is.
    """
    return torch.arange(min_score, max_score, (max_score - min_score) / steps, dtype=torch.float32)


def above_thresholds_exact(counts: ThresholdCounts, thresholds: Tensor) -> tuple[Tensor, Tensor]:
    """Normal pixel count and region mass strictly above each threshold; float64 [T] each.

    counts: exact counts (one threshold per distinct score); thresholds: [T], any order.
    """
    ascending = torch.flip(counts.thresholds, dims=(0,))
    th = thresholds.to(device=ascending.device, dtype=torch.float64)
    n_greater = counts.thresholds.numel() - torch.searchsorted(ascending, th, right=True)
    take = torch.clamp(n_greater - 1, min=0)
    none_above = n_greater == 0
    fps = torch.where(none_above, torch.zeros_like(th), counts.fps[take])
    mass = torch.where(none_above, torch.zeros_like(th), counts.region_mass[take])
    return fps, mass


def above_thresholds_binned(
    negative_hist: Tensor, region_mass_hist: Tensor, score_range: tuple[float, float], thresholds: Tensor
) -> tuple[Tensor, Tensor]:
    """As ``above_thresholds_exact`` from histograms; float64 [T] each.

    Bins entirely above a threshold count fully; of the bin holding the threshold, the part of
    its width above the threshold counts, as if its scores were spread evenly. The error at one
    threshold is therefore at most that one bin's content.
    """
    lo, hi = score_range
    bins = negative_hist.numel()
    x = (thresholds.to(device=negative_hist.device, dtype=torch.float64) - lo) * (bins / (hi - lo))
    k = torch.clamp(torch.floor(x), 0, bins - 1).long()
    part_above = torch.clamp(k + 1 - x, 0, 1)

    def above(hist: Tensor) -> Tensor:
        hist = hist.to(torch.float64)
        # suffix[j] = content of bins j..B-1, with suffix[B] = 0.
        suffix = torch.cat([torch.flip(torch.cumsum(torch.flip(hist, (0,)), 0), (0,)), hist.new_zeros(1)])
        return suffix[k + 1] + part_above * hist[k]

    return above(negative_hist), above(region_mass_hist)


def aupro_reference(
    fps_above: Tensor, region_mass_above: Tensor, negatives: float, n_regions: float, fpr_limit: float = 0.3
) -> float:
    """The paper code's AUPRO from per-threshold counts (thresholds ascending).

    fps_above, region_mass_above: float64 [T], normal pixels and region mass above each threshold.
    NaN where that code fails or returns NaN: no region, no normal pixel, fewer than two points
    below fpr_limit, or all kept points at one FPR.
    """
    if n_regions <= 0 or negatives <= 0:
        return math.nan
    fpr = (fps_above / negatives).to(torch.float32)
    pro = region_mass_above / n_regions
    kept = fpr < fpr_limit
    fpr, pro = fpr[kept], pro[kept]
    if fpr.numel() < 2 or fpr.max() == fpr.min():
        return math.nan
    fpr = (fpr - fpr.min()) / (fpr.max() - fpr.min())
    # FPR falls as the threshold rises; the trapezoid runs right to left, as sklearn.metrics.auc does.
    dx = torch.diff(fpr).to(torch.float64)
    return float(-torch.sum(dx * (pro[1:] + pro[:-1]) / 2))
