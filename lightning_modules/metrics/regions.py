"""Ground-truth regions of anomaly masks: 8-connected components, labelled per mask.

PRO averages over regions, so each anomalous pixel carries the weight 1 / (size of its region);
the weights of a region sum to 1 and the sum over all regions is the region count.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from torch import Tensor

# 8-connectivity inside each mask and none across masks: only the middle plane of the 3x3x3
# structure is set, so labelling the whole [N, H, W] stack in one call never joins two masks.
_EIGHT_CONNECTED_PER_MASK = np.zeros((3, 3, 3), dtype=bool)
_EIGHT_CONNECTED_PER_MASK[1] = True


def binary_masks_on_cpu(masks: Tensor) -> np.ndarray:
    """masks: [N, H, W] with values in {0, 1} (any dtype) -> bool numpy [N, H, W].

    Raises ValueError when a value is neither 0 nor 1: a resized mask must be binarised before
    scoring, or its interpolated border would silently count as normal or anomalous.
    """
    array = masks.detach().cpu().numpy()
    if array.dtype != np.bool_:
        bad = (array != 0) & (array != 1)
        if bad.any():
            raise ValueError(
                f"lightning_modules/metrics/regions.py: masks must hold only 0 and 1, found "
                f"{array[bad].flat[0]!r} ({int(bad.sum())} such pixels); binarise resized masks, "
                f"e.g. `masks > 0.5`, before updating the metric."
            )
        array = array != 0
    return array


def label_regions(masks: np.ndarray) -> tuple[np.ndarray, int]:
    """masks: bool [N, H, W] -> (region labels int32 [N, H, W], 0 = normal, 1..R; R)."""
    labels, n_regions = ndimage.label(masks, structure=_EIGHT_CONNECTED_PER_MASK)
    return labels, int(n_regions)


def anomalous_pixel_weights(masks: np.ndarray) -> tuple[np.ndarray, int]:
    """Weights of the anomalous pixels, in row-major order of ``masks`` (as ``tensor[mask]`` reads).

    masks: bool [N, H, W]. Returns (float64 [number of anomalous pixels], each 1 / (size of the
    pixel's region); number of regions R).
    """
    labels, n_regions = label_regions(masks)
    region_sizes = np.bincount(labels.ravel(), minlength=n_regions + 1)
    inverse_size = np.zeros(n_regions + 1, dtype=np.float64)
    inverse_size[1:] = 1.0 / region_sizes[1:]
    return inverse_size[labels[masks]], n_regions
