"""Pixel-level AUROC, AP, F1-max and AUPRO over anomaly maps and ground-truth masks."""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor

from . import binning_bounds
from .aupro import above_thresholds_binned, above_thresholds_exact, aupro_mvtec, aupro_reference, reference_thresholds
from .curves import ThresholdCounts, auroc, average_precision, counts_from_histograms, counts_from_scores, f1_max
from .metric_states import ExactStateMetric, from_bits, max_of_bits, min_of_bits, sum_of_bits, to_bits
from .regions import binary_masks_on_cpu, region_sizes_from_weights, region_weights_of_stack

AuproDefinition = Literal["mvtec", "reference"]

DEFAULT_BINS = 2**16
# Scores a rounding error outside score_range (a blurred map reaching 1 + 1e-7) are clamped into
# the end bins; anything further out is a bug upstream and is reported at compute.
_RANGE_SLACK = 1e-6
_FILE = "lightning_modules/metrics/pixel_metrics.py"


class PixelMetrics(ExactStateMetric):
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

    GPU path: with ``region_weights`` from the data workers (``regions.region_weights``), a
    streaming update is a few kernels on the maps' device and never waits for it; without them
    the masks are copied to the CPU and labelled in ``update``. Both give identical results.

    Input contract: shapes and dtypes are checked in ``update``, where it costs nothing. Values
    are counted on the device and reported by ``compute`` (ValueError, with how many were bad):
    NaN or infinite map values, map values outside ``score_range`` (streaming), mask values other
    than 0 / 1, region weights that disagree with their masks. On the mask-only path the masks
    are on the CPU anyway and a non-binary mask raises in ``update``.

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
        bins: histogram bins (streaming only); states take 3 * bins int64 numbers.
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
        super().__init__(**kwargs)
        _check_arguments(exact, aupro_definition, fpr_limit, bins, score_range)
        self.exact = exact
        self.aupro_definition = aupro_definition
        self.fpr_limit = float(fpr_limit)
        self.bins = int(bins)
        self.score_range = (float(score_range[0]), float(score_range[1]))

        # int64 counts and float64 values as int64 bits, see metric_states.
        zero = torch.zeros((), dtype=torch.int64)
        self.add_state("n_regions", zero.clone(), dist_reduce_fx="sum")
        self.add_state("min_score", to_bits(torch.tensor(math.inf)), dist_reduce_fx=min_of_bits)
        self.add_state("max_score", to_bits(torch.tensor(-math.inf)), dist_reduce_fx=max_of_bits)
        # Bad values are counted on the device and reported at compute: raising in update would
        # need their count on the host, a synchronisation per batch.
        for counter in ("n_values", "n_not_finite", "n_outside_range", "n_not_binary", "n_weights_off"):
            self.add_state(counter, zero.clone(), dist_reduce_fx="sum")
        if exact:
            self.add_list_state("normal_scores")
            self.add_list_state("anomalous_scores")
            self.add_list_state("anomalous_weights")
        else:
            self.add_state("normal_hist", torch.zeros(self.bins, dtype=torch.int64), dist_reduce_fx="sum")
            self.add_state("anomalous_hist", torch.zeros(self.bins, dtype=torch.int64), dist_reduce_fx="sum")
            self.add_state("region_mass_hist", to_bits(torch.zeros(self.bins)), dist_reduce_fx=sum_of_bits)

    def update(self, maps: Tensor, masks: Tensor, region_weights: Tensor | None = None) -> None:
        """maps: float [N, H, W] (or [N, 1, H, W]) anomaly maps, higher = more anomalous.
        masks: [N, H, W] (or [N, 1, H, W]) ground truth in {0, 1}, bool / integer / float; 1 = anomalous.
        region_weights: float [N, H, W] (or [N, 1, H, W]) or None: ``regions.region_weights`` of each
            mask, computed by the data workers. Given, the update runs on the maps' device without a
            host synchronisation (streaming mode); None, the masks are copied to the CPU and labelled here.
        """
        maps, masks = _squeeze_channel(maps, "maps"), _squeeze_channel(masks, "masks")
        _check_dtype(maps, "maps", floating=True)
        _check_dtype(masks, "masks", floating=False)
        if maps.shape != masks.shape:
            raise ValueError(
                f"{_FILE}: maps {tuple(maps.shape)} and masks {tuple(masks.shape)} must have the same [N, H, W] "
                f"shape; resize the maps to the mask size."
            )
        if region_weights is not None:
            region_weights = _squeeze_channel(region_weights, "region_weights")
            _check_dtype(region_weights, "region_weights", floating=True)
            if region_weights.dtype not in (torch.float32, torch.float64):
                raise ValueError(
                    f"{_FILE}: region_weights are {region_weights.dtype}, which cannot hold 1 / region size exactly "
                    f"enough; keep them float32 (Lightning's 'bf16-true' / '16-true' cast floating batch tensors: use "
                    f"'bf16-mixed'), or pass region_weights=None."
                )
            if region_weights.shape != masks.shape:
                raise ValueError(
                    f"{_FILE}: region_weights {tuple(region_weights.shape)} must have the masks' shape "
                    f"{tuple(masks.shape)}; compute them from the same masks with regions.region_weights."
                )
        if maps.numel() == 0:
            return
        device = self.device
        if region_weights is None:
            binary = binary_masks_on_cpu(masks)  # on the CPU anyway for labelling: checked at once
            weights32 = torch.from_numpy(region_weights_of_stack(binary)).to(device, non_blocking=True)
            anomalous = torch.from_numpy(binary).to(device, non_blocking=True)
        else:
            masks = masks.detach().to(device)
            anomalous = masks if masks.dtype == torch.bool else masks != 0
            if masks.dtype != torch.bool:
                self.n_not_binary += ((masks != 0) & (masks != 1)).sum()
            weights32 = region_weights.detach().to(device)
            off = ((weights32 > 0) != anomalous) | ~torch.isfinite(weights32) | (weights32 > 1)
            self.n_weights_off += off.sum()
        sizes = region_sizes_from_weights(weights32)
        weights = torch.where(sizes > 0, 1.0 / torch.where(sizes > 0, sizes, 1.0), 0.0)
        self.n_regions += torch.round(weights.sum()).to(torch.int64)

        scores = maps.detach().to(device=device, dtype=torch.float64)
        finite = torch.isfinite(scores)
        self.n_values += scores.numel()
        self.n_not_finite += (~finite).sum()
        self.min_score = to_bits(torch.minimum(from_bits(self.min_score), torch.where(finite, scores, math.inf).amin()))
        self.max_score = to_bits(torch.maximum(from_bits(self.max_score), torch.where(finite, scores, -math.inf).amax()))
        if self.exact:  # boolean indexing waits for the device: exact mode is for verification
            self.normal_scores.append(to_bits(scores[~anomalous]))
            self.anomalous_scores.append(to_bits(scores[anomalous]))
            self.anomalous_weights.append(to_bits(weights[anomalous]))
            return
        low, high = self.score_range
        self.n_outside_range += (finite & ((scores < low - _RANGE_SLACK) | (scores > high + _RANGE_SLACK))).sum()
        # Non-finite scores are counted above and fail compute; binned at the ends meanwhile, so
        # that no NaN reaches an index (a device-side assert on CUDA).
        safe = torch.nan_to_num(scores, nan=low, posinf=high, neginf=low).reshape(-1)
        bin_index = torch.floor((safe - low) * (self.bins / (high - low))).clamp_(0, self.bins - 1).long()
        # index_add_ into fixed-size histograms: torch.bincount would read the largest index on the host.
        both = _histogram(bin_index + self.bins * anomalous.reshape(-1).long(), 2 * self.bins)
        self.normal_hist += both[: self.bins]
        self.anomalous_hist += both[self.bins :]
        mass = torch.zeros(self.bins, dtype=torch.float64, device=device).index_add_(0, bin_index, weights.reshape(-1))
        self.region_mass_hist = to_bits(from_bits(self.region_mass_hist) + mass)

    def compute(self) -> dict[str, float]:
        """{"auroc", "ap", "f1_max", "aupro"} as floats in [0, 1], NaN where undefined."""
        self._check_values()
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
            self._check_values()
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
        return torch.linspace(low, high, self.bins + 1, dtype=torch.float64, device=self.device)

    def _counts(self) -> ThresholdCounts:
        if self.exact:
            normal = from_bits(self.list_state("normal_scores"))
            anomalous = from_bits(self.list_state("anomalous_scores"))
            is_anomalous = torch.cat([torch.zeros_like(normal, dtype=torch.bool), torch.ones_like(anomalous, dtype=torch.bool)])
            weights = torch.cat([torch.zeros_like(normal), from_bits(self.list_state("anomalous_weights"))])
            return counts_from_scores(torch.cat([normal, anomalous]), is_anomalous, weights)
        return counts_from_histograms(
            self.anomalous_hist, self.normal_hist, self.bin_edges(), from_bits(self.region_mass_hist)
        )

    def _aupro(self, counts: ThresholdCounts) -> float:
        n_regions = float(self.n_regions)
        if self.aupro_definition == "mvtec":
            return aupro_mvtec(counts, n_regions, self.fpr_limit)
        low, high = float(from_bits(self.min_score)), float(from_bits(self.max_score))
        if not high > low:
            return math.nan  # all pixels share one score: the paper's code fails on a zero step
        thresholds = reference_thresholds(low, high)
        if self.exact:
            fps_above, mass_above = above_thresholds_exact(counts, thresholds)
        else:
            fps_above, mass_above = above_thresholds_binned(
                self.normal_hist, from_bits(self.region_mass_hist), self.score_range, thresholds
            )
        return aupro_reference(fps_above, mass_above, counts.negatives, n_regions, self.fpr_limit)

    def _check_values(self) -> None:
        """Raise ValueError for the bad values ``update`` counted (one host read of five counters)."""
        n_values, not_finite, outside, not_binary, weights_off = torch.stack(
            [self.n_values, self.n_not_finite, self.n_outside_range, self.n_not_binary, self.n_weights_off]
        ).tolist()
        if not_finite:
            raise ValueError(
                f"{_FILE}: {not_finite} of {n_values} anomaly-map values are NaN or infinite; find where the model "
                f"produces them (e.g. a zero-norm feature, or a float16 overflow) before updating the metric."
            )
        if not_binary:
            raise ValueError(
                f"{_FILE}: {not_binary} mask values are neither 0 nor 1; binarise resized masks, e.g. "
                f"`masks > 0.5`, before updating the metric."
            )
        if weights_off:
            raise ValueError(
                f"{_FILE}: region_weights disagree with their masks at {weights_off} pixels (a weight must be "
                f"in (0, 1] exactly where the mask is 1, and 0 elsewhere); compute them from the same masks with "
                f"lightning_modules.metrics.regions.region_weights, or pass region_weights=None."
            )
        if outside:
            low, high = float(from_bits(self.min_score)), float(from_bits(self.max_score))
            range_low, range_high = self.score_range
            raise ValueError(
                f"{_FILE}: {outside} of {n_values} anomaly-map values lie outside score_range=({range_low}, "
                f"{range_high}) (the maps span [{low:.6g}, {high:.6g}]); map scores into that range, pass the "
                f"maps' true range as score_range, or use exact=True."
            )


def _check_arguments(exact, aupro_definition, fpr_limit, bins, score_range) -> None:
    """Every constructor argument's type and range, so that nothing fails after the evaluation ran."""
    if not isinstance(exact, bool):
        raise ValueError(f"{_FILE}: exact must be True or False, got {exact!r}.")
    if aupro_definition not in ("mvtec", "reference"):
        raise ValueError(f"{_FILE}: aupro_definition must be 'mvtec' or 'reference', got {aupro_definition!r}.")
    if isinstance(fpr_limit, bool) or not isinstance(fpr_limit, (int, float)) or not 0 < fpr_limit <= 1:
        raise ValueError(f"{_FILE}: fpr_limit must be a number in (0, 1], got {fpr_limit!r}; the usual value is 0.3.")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise ValueError(f"{_FILE}: bins must be an integer >= 2, got {bins!r}; the default is 2**16.")
    if (
        not isinstance(score_range, (tuple, list))
        or len(score_range) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in score_range)
        or not score_range[0] < score_range[1]
    ):
        raise ValueError(
            f"{_FILE}: score_range must be (low, high), two finite numbers with low < high, got {score_range!r}; "
            f"our anomaly maps are in (0.0, 1.0)."
        )


def _check_dtype(t: Tensor, name: str, floating: bool) -> None:
    if floating and not t.is_floating_point():
        raise ValueError(
            f"{_FILE}: {name} must be a floating-point tensor, got {t.dtype}; "
            + ("pass the float anomaly maps, not thresholded ones." if name == "maps" else "pass regions.region_weights' float32 output.")
        )
    if t.is_complex():
        raise ValueError(f"{_FILE}: {name} must hold real values, got {t.dtype}.")


def _squeeze_channel(t: Tensor, name: str) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"{_FILE}: {name} must be a torch.Tensor [N, H, W], got {type(t).__name__}.")
    if t.ndim == 4 and t.shape[1] == 1:
        return t[:, 0]
    if t.ndim != 3:
        raise ValueError(
            f"{_FILE}: {name} must be [N, H, W] or [N, 1, H, W], got "
            f"{tuple(t.shape)}; add a batch dimension to a single map with `{name}[None]`."
        )
    return t


def _histogram(index: Tensor, size: int) -> Tensor:
    """int64 [size]: how often each value of ``index`` (long [M], in [0, size)) occurs, on its device."""
    ones = torch.ones(1, dtype=torch.int64, device=index.device).expand(index.numel())
    return torch.zeros(size, dtype=torch.int64, device=index.device).index_add_(0, index, ones)
