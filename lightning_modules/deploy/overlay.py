"""An inspection overlay: the image with its anomaly map as a heat colour and the flagged region outlined."""

from __future__ import annotations

import numpy as np
from PIL import Image

from lightning_modules.callbacks.overlay import heat_colours  # the one heat ramp of the project


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
