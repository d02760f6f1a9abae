"""An inspection overlay: the image with its anomaly map as a heat colour and the flagged region outlined."""

from __future__ import annotations

import numpy as np
from PIL import Image

# Anchors of a blue -> cyan -> yellow -> red heat scale at map values 0, 1/3, 2/3, 1.
_ANCHORS = np.array([[0, 0, 255], [0, 255, 255], [255, 255, 0], [255, 0, 0]], dtype=np.float32)


def heat_colours(values: np.ndarray) -> np.ndarray:
    """Map values [H, W] in [0, 1] -> uint8 [H, W, 3] colours, linear between the anchors."""
    position = np.clip(values, 0.0, 1.0) * (len(_ANCHORS) - 1)
    low = np.minimum(position.astype(np.int64), len(_ANCHORS) - 2)
    fraction = (position - low)[..., None]
    return (_ANCHORS[low] * (1 - fraction) + _ANCHORS[low + 1] * fraction + 0.5).astype(np.uint8)


def outline(mask: np.ndarray) -> np.ndarray:
    """Bool [H, W]: the pixels of `mask` with a 4-neighbour outside it (the border of each region)."""
    padded = np.pad(mask, 1, mode="constant", constant_values=False)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~interior


def overlay(rgb: np.ndarray, anomaly_map: np.ndarray, anomalous_pixels: np.ndarray | None = None, alpha: float = 0.5) -> Image.Image:
    """rgb uint8 [H, W, 3]; anomaly_map float [H, W] in [0, 1] at the same size; anomalous_pixels bool [H, W] or None.

    Returns an RGB PIL image: the picture blended with the heat colours (weight `alpha`), and the
    border of the flagged pixels in white.
    """
    if rgb.shape[:2] != anomaly_map.shape:
        raise ValueError(f"overlay.py: image is {rgb.shape[:2]} but its map is {anomaly_map.shape}; give the map at the image's size")
    blended = rgb.astype(np.float32) * (1 - alpha) + heat_colours(anomaly_map).astype(np.float32) * alpha
    picture = (blended + 0.5).astype(np.uint8)
    if anomalous_pixels is not None:
        picture[outline(anomalous_pixels)] = 255
    return Image.fromarray(picture, mode="RGB")
