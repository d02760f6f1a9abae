"""Image-level AUROC, AP and F1-max, exact, with DDP de-duplication by sample index."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .curves import auroc, average_precision, counts_from_scores, f1_max
from .metric_states import Float64StateMetric, cat_list_state, refuse_unsafe_options


class ImageMetrics(Float64StateMetric):
    """Exact image AUROC, AP (step-wise, as scikit-learn's average_precision_score) and F1-max.

    Scores are ranked as given, in any range: no sigmoid is applied (torchmetrics' curve
    metrics apply one to any batch outside [0, 1], which mixes scales across batches and
    saturates large logits into ties).

    Under DDP, states are lists gathered once at compute (one float per image, so small). A
    DistributedSampler pads the last batch with repeated samples when the dataset size is not
    divisible by the world size; pass each sample's dataset ``index`` to ``update`` and compute
    keeps one entry per index (the first gathered), so every image counts exactly once.

    Degenerate case: a metric is NaN (not 0) when only one label is present, e.g. a class with
    only normal test images.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, **kwargs: Any) -> None:
        refuse_unsafe_options(type(self).__name__, kwargs)
        super().__init__(**kwargs)
        # float64 like every state (see metric_states): exact for float64 scores and indices < 2**53.
        self.add_state("scores", [], dist_reduce_fx="cat")
        self.add_state("labels", [], dist_reduce_fx="cat")
        self.add_state("indices", [], dist_reduce_fx="cat")

    def update(self, scores: Tensor, labels: Tensor, index: Tensor | None = None) -> None:
        """scores: float [N], higher = more anomalous. labels: [N] in {0, 1}, 1 = anomalous.
        index: int [N] or None, each sample's position in its dataset; give it on every update
        or on none.
        """
        scores, labels = scores.detach().reshape(-1), labels.detach().reshape(-1)
        if scores.numel() != labels.numel() or (index is not None and index.numel() != scores.numel()):
            raise ValueError(
                f"lightning_modules/metrics/image_metrics.py: scores ({scores.numel()}), labels "
                f"({labels.numel()}) and index ({'none' if index is None else index.numel()}) must hold one "
                f"entry per image."
            )
        self.scores.append(scores.to(torch.float64))
        self.labels.append(labels.to(torch.float64))
        if index is not None:
            self.indices.append(index.detach().reshape(-1).to(torch.float64))

    def compute(self) -> dict[str, float]:
        """{"auroc", "ap", "f1_max"} as floats in [0, 1], NaN where undefined."""
        scores, labels, indices = (cat_list_state(s, self.device) for s in (self.scores, self.labels, self.indices))
        if indices.numel():
            if indices.numel() != scores.numel():
                raise ValueError(
                    "lightning_modules/metrics/image_metrics.py: `index` was passed to some updates and not "
                    "others; pass it on every update (or on none) of one ImageMetrics."
                )
            scores, labels = _one_per_index(scores, labels, indices.long())
        if not torch.all((labels == 0) | (labels == 1)):
            raise ValueError(
                f"lightning_modules/metrics/image_metrics.py: labels must be 0 (normal) or 1 (anomalous), got "
                f"values {torch.unique(labels).tolist()[:5]}."
            )
        counts = counts_from_scores(scores, labels == 1)
        return {"auroc": auroc(counts), "ap": average_precision(counts), "f1_max": f1_max(counts)}


def _one_per_index(scores: Tensor, labels: Tensor, indices: Tensor) -> tuple[Tensor, Tensor]:
    """Keep the first entry of every index; scores, labels: [M], indices: long [M] -> [U], [U]."""
    unique, inverse = torch.unique(indices, return_inverse=True)
    positions = torch.arange(indices.numel(), device=indices.device)
    first = torch.full_like(unique, indices.numel()).scatter_reduce_(0, inverse, positions, reduce="amin")
    if torch.any(labels[first][inverse] != labels):
        raise ValueError(
            "lightning_modules/metrics/image_metrics.py: one sample index arrived with different labels; "
            "indices must identify samples of one dataset (use one ImageMetrics per dataset / class)."
        )
    return scores[first], labels[first]
