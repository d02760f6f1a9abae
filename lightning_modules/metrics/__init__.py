"""Evaluation metrics: exact image metrics, streaming (or exact) pixel metrics, results tables.

Both metric classes are torchmetrics ``Metric``s whose states reduce the same on 1 or N devices;
see ``ImageMetrics`` and ``PixelMetrics`` for what each expects under DDP.
"""

from .image_metrics import ImageMetrics
from .pixel_metrics import PixelMetrics
from .results_table import ClassResult, results_table, to_markdown, write_results

__all__ = ["ClassResult", "ImageMetrics", "PixelMetrics", "results_table", "to_markdown", "write_results"]
