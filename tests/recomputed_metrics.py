"""Metrics recomputed outside the evaluation code, for tests that compare a results table with real values."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score


@torch.no_grad()
def image_metrics_by_class(model, dataset) -> dict[str, dict[str, float]]:
    """{class: {"image_auroc", "image_ap"}} in percent, from the model's forward on each item, with sklearn."""
    scores: dict[str, list[float]] = {}
    labels: dict[str, list[int]] = {}
    for index in range(len(dataset)):
        item = dataset[index]
        out = model(item.image[None], [item.prompt_name], fixed_prompts=item.fixed_prompts or None)
        scores.setdefault(item.class_name, []).append(float(out.pred_score[0]))
        labels.setdefault(item.class_name, []).append(int(item.label))
    return {
        name: {
            "image_auroc": 100 * roc_auc_score(np.array(labels[name]), np.array(scores[name])),
            "image_ap": 100 * average_precision_score(np.array(labels[name]), np.array(scores[name])),
        }
        for name in scores
    }
