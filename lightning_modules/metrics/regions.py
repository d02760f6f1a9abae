"""AUPRO's ground-truth regions, for the metrics: defined in `datamodules.regions`, where the data workers use them.

The data package is the lower layer (it never imports `lightning_modules`), so the one definition lives there.
"""

from datamodules.regions import (
    MAX_MASK_PIXELS,
    binary_masks_on_cpu,
    label_regions,
    region_sizes_from_weights,
    region_weights,
    region_weights_of_stack,
)

__all__ = [
    "MAX_MASK_PIXELS",
    "binary_masks_on_cpu",
    "label_regions",
    "region_sizes_from_weights",
    "region_weights",
    "region_weights_of_stack",
]
