"""Overlay pictures of one image: image | anomaly heatmap | ground-truth contour, as uint8 arrays for PNG files."""

from __future__ import annotations

from typing import Optional

import numpy as np
from scipy import ndimage

# A blue -> cyan -> green -> yellow -> red scale (anomaly 0 -> 1), sampled at these points and linearly in between.
_SCALE_POINTS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_SCALE_COLOURS = np.array([[0, 0, 160], [0, 190, 255], [40, 220, 40], [255, 230, 0], [220, 0, 0]], dtype=np.float32)
CONTOUR_COLOUR = np.array([255, 0, 0], dtype=np.uint8)
HEATMAP_OPACITY = 0.5


def heat_colours(values: np.ndarray) -> np.ndarray:
    """float [H, W] anomaly values in [0, 1] (clipped) -> uint8 [H, W, 3] colours."""
    clipped = np.clip(np.nan_to_num(values.astype(np.float32), nan=0.0), 0.0, 1.0)
    channels = [np.interp(clipped, _SCALE_POINTS, _SCALE_COLOURS[:, c]) for c in range(3)]
    return np.stack(channels, axis=-1).round().astype(np.uint8)


def render_overlay(image: np.ndarray, anomaly_map: np.ndarray, mask: Optional[np.ndarray] = None) -> np.ndarray:
    """Panels side by side, uint8 [H, 2W or 3W, 3].

    Args:
        image: float [3, H, W] in [0, 1] (the model input).
        anomaly_map: float [H, W] in [0, 1]; drawn on an absolute scale so images stay comparable.
        mask: bool [H, W] pixel ground truth, or None (no third panel, e.g. unlabelled images).
    """
    picture = (np.clip(image.transpose(1, 2, 0), 0, 1) * 255).round().astype(np.uint8)
    heat = (1 - HEATMAP_OPACITY) * picture + HEATMAP_OPACITY * heat_colours(anomaly_map)
    panels = [picture, heat.round().astype(np.uint8)]
    if mask is not None:
        region = mask.astype(bool)
        contour = region & ~ndimage.binary_erosion(region, iterations=max(1, region.shape[0] // 128))
        outlined = picture.copy()
        outlined[contour] = CONTOUR_COLOUR
        panels.append(outlined)
    return np.concatenate(panels, axis=1)
