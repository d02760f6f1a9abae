"""Pixel-level AUROC, AP, F1-max and AUPRO over anomaly maps and ground-truth masks."""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor

from . import binning_bounds
from .aupro import above_thresholds_binned, above_thresholds_exact, aupro_mvtec, aupro_reference, reference_thresholds
from .curves import ThresholdCounts, auroc, average_precision, counts_from_histograms, counts_from_scores, f1_max
from .metric_states import Float64StateMetric, cat_list_state, refuse_unsafe_options
from .regions import anomalous_pixel_weights, binary_masks_on_cpu

AuproDefinition = Literal["mvtec", "reference"]

DEFAULT_BINS = 2**16
# Scores a rounding error outside score_range (a blurred map reaching 1 + 1e-7) are clamped into
# the end bins; anything further out is a bug upstream and is reported at compute.
_RANGE_SLACK = 1e-6
_FILE = "lightning_modules/metrics/pixel_metrics.py"


class PixelMetrics(Float64StateMetric):
    """Pixel AUROC, AP, F1-max and AUPRO, streaming in constant memory or exact.

    Streaming (default): each update adds every pixel's score into fixed histograms of ``bins``
    equal bins over ``score_range``, split into normal pixels, anomalous pixels, and anomalous
    pixels weighted by 1 / (size of their 8-connected ground-truth region); plus the region
    count and the min / max score. All states are fixed-size and summed (min / max reduced)
    across processes, so the result is the same on 1 or N devices and memory does not grow with
    the dataset. Under DDP each pixel must be seen once: our datamodule's test / validation
    sampler does not repeat samples (a plain DistributedSampler pads with repeats, which a sum
    cannot undo).

    Binned metrics are the exact metrics of the scores moved to their bins' lower edges (the top
    bin is closed and holds ``high``). How far they can be from the exact metrics follows from the
    histograms alone (derivations in ``binning_bounds``) and ``binning_error_bounds()`` returns it;
    for AUROC it is at most half the largest share of normal pixels that falls into one bin. On
    smooth synthetic maps (tests/metrics) with the default 2**16 bins over [0, 1], the bounds are
    below 1e-4 and the errors below 3e-5; the tests require both to stay below 1e-3.

    ``exact=True`` keeps every pixel (float64 score, and region weight for anomalous pixels)
    and sorts at compute: for verification and small sets.

    AUPRO: ``aupro_definition="mvtec"`` is the MVTec AD evaluation (area up to FPR
    ``fpr_limit`` divided by it); ``"reference"`` reproduces the TIPS paper's code, which its
    Table 1 uses (200 thresholds between min and max score, see ``aupro``). In streaming mode the
    reference curve is read from the histograms at the 200 thresholds, interpolating inside the
    bin a threshold falls in; its cut at FPR < fpr_limit and FPR min-max rescaling are
    discontinuous, so no general bound holds there (tests measure it on realistic maps).

    Degenerate cases give NaN, not 0: AUROC / AP / F1-max when all pixels are normal or all are
    anomalous; AUPRO when no mask has an anomaly. Masks without anomaly add normal pixels only.

    Args:
        exact: keep and sort all pixels instead of binning.
        aupro_definition: "mvtec" or "reference".
        fpr_limit: the FPR up to which AUPRO integrates.
        bins: histogram bins (streaming only); states take 3 * bins float64 numbers.
        score_range: (low, high) bounds of the maps' scores (streaming only); our maps are in
            [0, 1]. Scores outside it (beyond 1e-6) raise ValueError at compute.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self,
        exact: bool = False,
        aupro_definition: AuproDefinition = "mvtec",
        fpr_limit: float = 0.3,
        bins: int = DEFAULT_BINS,
        score_range: tuple[float, float] = (0.0, 1.0),
        **kwargs: Any,
    ) -> None:
        refuse_unsafe_options(type(self).__name__, kwargs)
        super().__init__(**kwargs)
        if aupro_definition not in ("mvtec", "reference"):
            raise ValueError(
                f"{_FILE}: aupro_definition must be 'mvtec' or 'reference', "
                f"got {aupro_definition!r}."
            )
        if not 0 < fpr_limit <= 1:
            raise ValueError(f"{_FILE}: fpr_limit must be in (0, 1], got {fpr_limit}.")
        if not score_range[0] < score_range[1]:
            raise ValueError(f"{_FILE}: score_range must be (low, high) with low < high, got {score_range}.")
        if bins < 2:
            raise ValueError(f"{_FILE}: bins must be >= 2, got {bins}.")
        self.exact = exact
        self.aupro_definition = aupro_definition
        self.fpr_limit = float(fpr_limit)
        self.bins = int(bins)
        self.score_range = (float(score_range[0]), float(score_range[1]))

        f64 = dict(dtype=torch.float64)
        self.add_state("n_regions", torch.zeros((), **f64), dist_reduce_fx="sum")
        self.add_state("min_score", torch.tensor(math.inf, **f64), dist_reduce_fx="min")
        self.add_state("max_score", torch.tensor(-math.inf, **f64), dist_reduce_fx="max")
        if exact:
            self.add_state("normal_scores", [], dist_reduce_fx="cat")
            self.add_state("anomalous_scores", [], dist_reduce_fx="cat")
            self.add_state("anomalous_weights", [], dist_reduce_fx="cat")
        else:
            # Counts are float64 like every state (see metric_states): exact up to 2**53 pixels.
            self.add_state("normal_hist", torch.zeros(self.bins, **f64), dist_reduce_fx="sum")
            self.add_state("anomalous_hist", torch.zeros(self.bins, **f64), dist_reduce_fx="sum")
            self.add_state("region_mass_hist", torch.zeros(self.bins, **f64), dist_reduce_fx="sum")

    def update(self, maps: Tensor, masks: Tensor) -> None:
        """maps: float [N, H, W] (or [N, 1, H, W]) anomaly maps, higher = more anomalous.
        masks: [N, H, W] (or [N, 1, H, W]) ground truth in {0, 1}, any dtype; 1 = anomalous.
        """
        maps, masks = _squeeze_channel(maps, "maps"), _squeeze_channel(masks, "masks")
        if maps.shape != masks.shape:
            raise ValueError(
                f"{_FILE}: maps {tuple(maps.shape)} and masks "
                f"{tuple(masks.shape)} must have the same [N, H, W] shape; resize the maps to the mask size."
            )
        if maps.numel() == 0:
            return
        device = self.n_regions.device
        anomalous_np = binary_masks_on_cpu(masks)
        weights_np, n_regions = anomalous_pixel_weights(anomalous_np)
        anomalous = torch.from_numpy(anomalous_np).to(device).reshape(-1)
        weights = torch.from_numpy(weights_np).to(device)
        scores = maps.detach().to(device=device, dtype=torch.float64).reshape(-1)

        self.n_regions += n_regions
        self.min_score = torch.minimum(self.min_score, scores.min())
        self.max_score = torch.maximum(self.max_score, scores.max())
        if self.exact:
            self.normal_scores.append(scores[~anomalous])
            self.anomalous_scores.append(scores[anomalous])
            self.anomalous_weights.append(weights)
            return
        low, high = self.score_range
        bin_index = torch.floor((scores - low) * (self.bins / (high - low))).clamp_(0, self.bins - 1).long()
        # One bincount for both classes: anomalous pixels go to the upper half.
        both = torch.bincount(bin_index + self.bins * anomalous.long(), minlength=2 * self.bins)
        self.normal_hist += both[: self.bins]
        self.anomalous_hist += both[self.bins :]
        self.region_mass_hist += torch.bincount(bin_index[anomalous], weights=weights, minlength=self.bins)

    def compute(self) -> dict[str, float]:
        """{"auroc", "ap", "f1_max", "aupro"} as floats in [0, 1], NaN where undefined."""
        self._check_scores()
        counts = self._counts()
        return {
            "auroc": auroc(counts),
            "ap": average_precision(counts),
            "f1_max": f1_max(counts),
            "aupro": self._aupro(counts),
        }

    def binning_error_bounds(self) -> dict[str, float]:
        """Largest possible |streaming - exact| per metric, from the (synced) histograms.

        Zeros in exact mode. "aupro" is NaN for the reference definition (no general bound).
        Under DDP this syncs states, so call it on every rank, like compute.
        """
        if self.exact:
            return {"auroc": 0.0, "ap": 0.0, "f1_max": 0.0, "aupro": 0.0}
        with self.sync_context():
            counts = self._counts()
            n_regions = float(self.n_regions)
        return {
            "auroc": binning_bounds.auroc_bound(counts),
            "ap": binning_bounds.average_precision_bound(counts),
            "f1_max": binning_bounds.f1_max_bound(counts),
            "aupro": (
                binning_bounds.aupro_mvtec_bound(counts, n_regions, self.fpr_limit)
                if self.aupro_definition == "mvtec"
                else math.nan
            ),
        }

    def bin_edges(self) -> Tensor:
        """float64 [bins + 1], ascending, on the states' device."""
        low, high = self.score_range
        return torch.linspace(low, high, self.bins + 1, dtype=torch.float64, device=self.n_regions.device)

    def _counts(self) -> ThresholdCounts:
        if self.exact:
            device = self.n_regions.device
            normal = cat_list_state(self.normal_scores, device)
            anomalous = cat_list_state(self.anomalous_scores, device)
            is_anomalous = torch.cat([torch.zeros_like(normal, dtype=torch.bool), torch.ones_like(anomalous, dtype=torch.bool)])
            weights = torch.cat([torch.zeros_like(normal), cat_list_state(self.anomalous_weights, device)])
            return counts_from_scores(torch.cat([normal, anomalous]), is_anomalous, weights)
        return counts_from_histograms(self.anomalous_hist, self.normal_hist, self.bin_edges(), self.region_mass_hist)

    def _aupro(self, counts: ThresholdCounts) -> float:
        n_regions = float(self.n_regions)
        if self.aupro_definition == "mvtec":
            return aupro_mvtec(counts, n_regions, self.fpr_limit)
        low, high = float(self.min_score), float(self.max_score)
        if not high > low:
            return math.nan  # all pixels share one score: the paper's code fails on a zero step
        thresholds = reference_thresholds(low, high)
        if self.exact:
            fps_above, mass_above = above_thresholds_exact(counts, thresholds)
        else:
            fps_above, mass_above = above_thresholds_binned(
                self.normal_hist, self.region_mass_hist, self.score_range, thresholds
            )
        return aupro_reference(fps_above, mass_above, counts.negatives, n_regions, self.fpr_limit)

    def _check_scores(self) -> None:
        low, high = float(self.min_score), float(self.max_score)
        if math.isnan(low) or math.isnan(high):
            raise ValueError(
                f"{_FILE}: an anomaly map contains NaN; check the model "
                "output (e.g. a division by a zero norm) before updating the metric."
            )
        if self.exact or low > high:  # exact mode takes any range; low > high: nothing seen yet
            return
        range_low, range_high = self.score_range
        if low < range_low - _RANGE_SLACK or high > range_high + _RANGE_SLACK:
            raise ValueError(
                f"{_FILE}: anomaly maps span [{low:.6g}, {high:.6g}] but the "
                f"histogram covers score_range=({range_low}, {range_high}); map scores into that range, "
                f"pass the maps' true range as score_range, or use exact=True."
            )


def _squeeze_channel(t: Tensor, name: str) -> Tensor:
    if t.ndim == 4 and t.shape[1] == 1:
        return t[:, 0]
    if t.ndim != 3:
        raise ValueError(
            f"{_FILE}: {name} must be [N, H, W] or [N, 1, H, W], got "
            f"{tuple(t.shape)}; add a batch dimension to a single map with `{name}[None]`."
        )
    return t
