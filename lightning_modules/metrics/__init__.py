"""Evaluation metrics: exact image metrics, streaming (or exact) pixel metrics, results tables.

Both metric classes are torchmetrics ``Metric``s whose states reduce the same on 1 or N devices;
see ``ImageMetrics`` and ``PixelMetrics`` for what each expects under DDP. ``region_weights``
is what data workers compute per ground-truth mask so that ``PixelMetrics.update`` needs no
CPU round trip (see ``regions``).
"""

from .image_metrics import ImageMetrics
from .pixel_metrics import PixelMetrics
from .regions import region_weights
from .results_table import ClassResult, results_table, to_markdown, write_results

__all__ = ["ClassResult", "ImageMetrics", "PixelMetrics", "region_weights", "results_table", "to_markdown", "write_results"]
