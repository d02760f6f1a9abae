"""Overlay pictures of one image: image | anomaly heatmap | ground-truth contour, as uint8 arrays for PNG files.

`heat_colours` is the project's one heat-colour ramp: the overlay PNGs, the W&B panels and the deployment overlay
all use it, so one anomaly value has one colour everywhere.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

# A blue -> cyan -> green -> yellow -> red scale (anomaly 0 -> 1), sampled at these points and linearly in between.
_SCALE_POINTS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_SCALE_COLOURS = np.array([[0, 0, 160], [0, 190, 255], [40, 220, 40], [255, 230, 0], [220, 0, 0]], dtype=np.float32)
CONTOUR_COLOUR = np.array([255, 0, 0], dtype=np.uint8)
HEATMAP_OPACITY = 0.5
CAPTION_HEIGHT = 12  # pixels of the caption strip under the panels (PIL's default bitmap font is 11 px high)


def heat_colours(values: np.ndarray) -> np.ndarray:
    """float [H, W] anomaly values in [0, 1] (clipped; NaN counts as 0) -> uint8 [H, W, 3] colours."""
    clipped = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0), 0.0, 1.0)
    channels = [np.interp(clipped, _SCALE_POINTS, _SCALE_COLOURS[:, c]) for c in range(3)]
    return np.stack(channels, axis=-1).round().astype(np.uint8)


def render_overlay(
    image: np.ndarray, anomaly_map: np.ndarray, mask: Optional[np.ndarray] = None,
    aspect: Optional[float] = None, caption: Optional[str] = None,
) -> np.ndarray:
    """Panels side by side, uint8 [H, 2W or 3W, 3] (plus a caption strip below when `caption` is given).

    Args:
        image: float [3, H, W] in [0, 1] (the model input).
        anomaly_map: float [H, W] in [0, 1]; drawn on an absolute scale so images stay comparable.
        mask: bool [H, W] pixel ground truth, or None (no third panel, e.g. unlabelled images).
        aspect: width / height of the original image: each panel is stretched back to it (the model input is
            square), so a 2:1 part is shown 2:1. None keeps the input's shape.
        caption: text written under the panels, e.g. "score 0.812  anomalous".
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
    height, width = picture.shape[:2]
    if aspect is not None and round(height * aspect) != width:
        size = (max(1, round(height * aspect)), height)
        panels = [np.asarray(Image.fromarray(panel).resize(size, Image.BILINEAR)) for panel in panels]
    joined = np.concatenate(panels, axis=1)
    if caption is None:
        return joined
    strip = Image.new("RGB", (joined.shape[1], CAPTION_HEIGHT), (0, 0, 0))
    ImageDraw.Draw(strip).text((2, 0), caption, fill=(255, 255, 255))
    return np.concatenate([joined, np.asarray(strip)], axis=0)


def overlay_name(image_path: str) -> str:
    """`<defect>_<stem>` for `.../<defect>/<stem>.png`: MVTec repeats stems across defect folders (hole/000.png,
    scratch/000.png), and the name says which defect an overlay shows."""
    parts = str(image_path).replace("\\", "/").rstrip("/").split("/")
    stem = parts[-1].rsplit(".", 1)[0] if "." in parts[-1] else parts[-1]
    return f"{parts[-2]}_{stem}" if len(parts) > 1 and parts[-2] else stem
