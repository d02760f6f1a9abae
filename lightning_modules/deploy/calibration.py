"""Thresholds for a detector from images: normal ones only, or a labelled set.

Scores and map maxima are taken exactly as the detector will later decide on them: `pred_score`,
and the maximum of the anomaly map at each image's own resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .detector import Detector
from .thresholds import Thresholds, from_labelled_scores, from_normal_scores


def _scores_and_maxima(detector: Detector, images: Sequence) -> tuple[np.ndarray, np.ndarray]:
    results = detector(list(images))
    scores = np.array([r.score for r in results], dtype=np.float64)
    maxima = np.array([float(r.anomaly_map.max()) for r in results], dtype=np.float64)
    return scores, maxima


def calibrate_normal(detector: Detector, normal_images: Sequence, quantile: float = 0.99) -> Thresholds:
    """Thresholds from normal images of the detector's product (tens suffice; see `thresholds.quantile_threshold`)."""
    scores, maxima = _scores_and_maxima(detector, normal_images)
    return from_normal_scores(detector.class_name, scores, maxima, detector.provenance, quantile)


def calibrate_labelled(detector: Detector, images: Sequence, labels: Sequence[int], quantile: float = 0.99) -> Thresholds:
    """Image threshold at F1-max over labelled images (0 normal, 1 anomalous), with the normals' false-positive
    rate at it; map threshold from the normal images' map maxima at `quantile`."""
    if len(labels) != len(images):
        raise ValueError(f"calibration.py: {len(images)} images but {len(labels)} labels; give one label (0 normal, 1 anomalous) per image")
    scores, maxima = _scores_and_maxima(detector, images)
    return from_labelled_scores(detector.class_name, scores, np.asarray(labels), maxima, detector.provenance, quantile)
