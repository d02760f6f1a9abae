"""Image-level AUROC, AP and F1-max, exact, with DDP de-duplication by sample index."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .curves import auroc, average_precision, counts_from_scores, f1_max
from .metric_states import ExactStateMetric, from_bits, to_bits

_FILE = "lightning_modules/metrics/image_metrics.py"


class ImageMetrics(ExactStateMetric):
    """Exact image AUROC, AP (step-wise, as scikit-learn's average_precision_score) and F1-max.

    Scores are ranked as given, in any range: no sigmoid is applied (torchmetrics' curve
    metrics apply one to any batch outside [0, 1], which mixes scales across batches and
    saturates large logits into ties).

    Under DDP, states are lists gathered once at compute (one float per image, so small). A
    DistributedSampler pads the last batch with repeated samples when the dataset size is not
    divisible by the world size; pass each sample's dataset ``index`` to ``update`` and compute
    keeps one entry per index (the first gathered), so every image counts exactly once.

    Input contract: shapes and dtypes are checked in ``update`` (free); values are checked in
    ``compute``, so that ``update`` never waits for the device: a NaN or infinite score, or a
    label other than 0 / 1, raises ValueError there saying how many were found.

    Degenerate case: a metric is NaN (not 0) when only one label is present, e.g. a class with
    only normal test images.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # float64 bit patterns (scores, labels) and int64 indices, see metric_states.
        self.add_list_state("scores")
        self.add_list_state("labels")
        self.add_list_state("indices")

    def update(self, scores: Tensor, labels: Tensor, index: Tensor | None = None) -> None:
        """scores: real [N], higher = more anomalous, any finite range. labels: bool, integer or
        float [N] in {0, 1}, 1 = anomalous. index: integer [N] or None, each sample's position in
        its dataset; give it on every update or on none.
        """
        _check_vector(scores, "scores", allow_bool=False)
        _check_vector(labels, "labels", allow_bool=True)
        if index is not None:
            _check_vector(index, "index", allow_bool=False)
            if index.is_floating_point():
                raise ValueError(f"{_FILE}: index must be an integer tensor (sample positions), got {index.dtype}.")
        if labels.shape != scores.shape or (index is not None and index.shape != scores.shape):
            raise ValueError(
                f"{_FILE}: scores {tuple(scores.shape)}, labels {tuple(labels.shape)} and index "
                f"{'none' if index is None else tuple(index.shape)} must hold one entry per image; pass one label "
                f"(and index) per score."
            )
        device = self.device
        self.scores.append(to_bits(scores.detach().to(device)))
        self.labels.append(to_bits(labels.detach().to(device)))
        if index is not None:
            self.indices.append(index.detach().to(device=device, dtype=torch.int64))

    def compute(self) -> dict[str, float]:
        """{"auroc", "ap", "f1_max"} as floats in [0, 1], NaN where undefined."""
        scores, labels = from_bits(self.list_state("scores")), from_bits(self.list_state("labels"))
        indices = self.list_state("indices")
        if indices.numel():
            if indices.numel() != scores.numel():
                raise ValueError(
                    f"{_FILE}: `index` was passed to some updates and not others; pass it on every update (or on "
                    f"none) of one ImageMetrics."
                )
            scores, labels = _one_per_index(scores, labels, indices)
        _check_values(scores, labels)
        counts = counts_from_scores(scores, labels == 1)
        return {"auroc": auroc(counts), "ap": average_precision(counts), "f1_max": f1_max(counts)}


def _check_vector(t: Any, name: str, allow_bool: bool) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{_FILE}: {name} must be a torch.Tensor [N], got {type(t).__name__}; wrap it in torch.as_tensor.")
    if t.ndim != 1:
        raise ValueError(
            f"{_FILE}: {name} must be one-dimensional [N] (one entry per image), got shape {tuple(t.shape)}; "
            f"flatten it, e.g. {name}.reshape(-1), only if it really holds one value per image."
        )
    if t.is_complex() or (t.dtype == torch.bool and not allow_bool):
        raise ValueError(f"{_FILE}: {name} must hold real numbers, got dtype {t.dtype}.")


def _check_values(scores: Tensor, labels: Tensor) -> None:
    """Value checks, once at compute: non-finite scores and labels other than 0 / 1."""
    finite = torch.isfinite(scores)
    if not bool(finite.all()):
        n_nan = int(torch.isnan(scores).sum())
        raise ValueError(
            f"{_FILE}: {int((~finite).sum())} of {scores.numel()} image scores are not finite ({n_nan} NaN, "
            f"{int((~finite).sum()) - n_nan} infinite); AUROC / AP over them would be meaningless: find where the model "
            f"produces them (e.g. a zero-norm feature or a score overflowing float16) before updating the metric."
        )
    bad = (labels != 0) & (labels != 1)
    if bool(bad.any()):
        raise ValueError(
            f"{_FILE}: {int(bad.sum())} of {labels.numel()} labels are neither 0 (normal) nor 1 (anomalous), e.g. "
            f"{labels[bad][0].item()!r}; pass labels in {{0, 1}}."
        )


def _one_per_index(scores: Tensor, labels: Tensor, indices: Tensor) -> tuple[Tensor, Tensor]:
    """Keep the first entry of every index; scores, labels: [M], indices: long [M] -> [U], [U]."""
    unique, inverse = torch.unique(indices, return_inverse=True)
    positions = torch.arange(indices.numel(), device=indices.device)
    first = torch.full_like(unique, indices.numel()).scatter_reduce_(0, inverse, positions, reduce="amin")
    # NaN != NaN: compare label bits, so a NaN label is reported by the value check, not here.
    if torch.any(to_bits(labels[first][inverse]) != to_bits(labels)):
        raise ValueError(
            f"{_FILE}: one sample index arrived with different labels; indices must identify samples of one "
            f"dataset (use one ImageMetrics per dataset / class)."
        )
    return scores[first], labels[first]
