"""Ground-truth regions of anomaly masks for AUPRO: 8-connected components and their pixel weights.

PRO averages over regions, so each anomalous pixel carries the weight 1 / (size of its region);
the weights of a region sum to 1 and the sum over all regions is the region count.

Labelling needs the CPU. On the GPU path the data workers call ``region_weights`` on each mask,
and the batch brings the weights (float32 [N, H, W]) to the device with the maps, so
``PixelMetrics.update`` never waits for a device-to-host copy. float32 holds 1 / size only
approximately, so the device side recovers each region's size from its weight
(``region_sizes_from_weights``, exact below 2**23 pixels per mask) and divides in float64:
both paths then use the same float64 weights and give identical results.

It lives in the data package because the data workers compute the weights, and the data package never
imports the model side; `lightning_modules.metrics.regions` re-exports it for the metrics.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

_FILE = "datamodules/regions.py"
# A float32 1 / s is within s * 2**-24 of 1 / s relative; its reciprocal rounds back to s while
# s * 2**-24 < 1/2, i.e. for every region smaller than 2**23 pixels.
MAX_MASK_PIXELS = 2**23

# 8-connectivity inside each mask and none across masks: only the middle plane of the 3x3x3
# structure is set, so labelling the whole [N, H, W] stack in one call never joins two masks.
_EIGHT_CONNECTED_PER_MASK = np.zeros((3, 3, 3), dtype=bool)
_EIGHT_CONNECTED_PER_MASK[1] = True


def binary_masks_on_cpu(masks: Tensor) -> np.ndarray:
    """masks: [N, H, W] with values in {0, 1} (any dtype) -> bool numpy [N, H, W].

    Raises ValueError when a value is neither 0 nor 1: a resized mask must be binarised before
    scoring, or its interpolated border would silently count as normal or anomalous.
    """
    return _binary(masks.detach().cpu().numpy(), "mask")


def label_regions(masks: np.ndarray) -> tuple[np.ndarray, int]:
    """masks: bool [N, H, W] -> (region labels int32 [N, H, W], 0 = normal, 1..R; R)."""
    labels, n_regions = ndimage.label(masks, structure=_EIGHT_CONNECTED_PER_MASK)
    return labels, int(n_regions)


def region_weights(mask: np.ndarray) -> np.ndarray:
    """The AUPRO weight of every pixel of one ground-truth mask, for the data workers.

    mask: [H, W] in {0, 1} (bool, integer or float), 1 = anomalous, at most 2**23 pixels.
    Returns float32 [H, W]: 1 / (size of the pixel's 8-connected region) on anomalous pixels,
    0 on normal ones; the weights of one region sum to 1, so the image's region count is the
    rounded sum.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(
            f"{_FILE}: region_weights takes one mask [H, W], got shape {mask.shape}; call it once per mask "
            f"(or use region_weights_of_stack for [N, H, W])."
        )
    return region_weights_of_stack(mask[None])[0]


def region_weights_of_stack(masks: np.ndarray) -> np.ndarray:
    """``region_weights`` of every mask of a stack: [N, H, W] in {0, 1} -> float32 [N, H, W]."""
    masks = _binary(np.asarray(masks), "mask")
    if masks.ndim != 3:
        raise ValueError(f"{_FILE}: masks must be [N, H, W], got shape {masks.shape}.")
    if masks.shape[1] * masks.shape[2] > MAX_MASK_PIXELS:
        raise ValueError(
            f"{_FILE}: a {masks.shape[1]}x{masks.shape[2]} mask has more than 2**23 pixels, beyond which float32 "
            f"region weights stop being exact; evaluate at the model's image size (resize the masks) instead."
        )
    labels, n_regions = label_regions(masks)
    sizes = np.bincount(labels.ravel(), minlength=n_regions + 1)
    inverse_size = np.zeros(n_regions + 1, dtype=np.float32)
    inverse_size[1:] = 1.0 / sizes[1:]
    return inverse_size[labels]


def region_sizes_from_weights(weights: Tensor) -> Tensor:
    """Device side: float [N, H, W] weights from ``region_weights`` -> float64 [N, H, W] region sizes.

    0 on normal pixels; exact integers for regions below 2**23 pixels. No host synchronisation.
    """
    weights = weights.to(torch.float64)
    positive = weights > 0
    return torch.where(positive, torch.round(1.0 / torch.where(positive, weights, 1.0)), 0.0)


def _binary(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype == np.bool_:
        return array
    bad = (array != 0) & (array != 1)
    if bad.any():
        raise ValueError(
            f"{_FILE}: {name} values must be 0 or 1, found {array[bad].flat[0].item()!r} ({int(bad.sum())} such pixels); "
            f"binarise resized masks, e.g. `masks > 0.5`, before computing metrics or region weights."
        )
    return array != 0
