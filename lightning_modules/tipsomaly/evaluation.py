"""Per-dataset, per-class metric bookkeeping for test and validation runs, DDP-safe."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

from lightning_modules.metrics import ClassResult, ImageMetrics, PixelMetrics

LEVELS = ("image", "pixel")


class ClassMetrics:
    """ImageMetrics and PixelMetrics per (dataset, class), created on first sight of a class.

    Under DDP a class may reach only some ranks; `results()` first agrees on the union of
    classes across ranks, so every rank computes (and synchronises) the same metrics in the
    same order.
    """

    def __init__(self, exact_pixels: bool = False, aupro_definition: str = "mvtec"):
        self.exact_pixels = exact_pixels
        self.aupro_definition = aupro_definition
        self.levels: dict[str, tuple[str, ...]] = {}
        self.metrics: dict[tuple[str, str], dict[str, object]] = {}

    def _metrics_for(self, dataset: str, class_name: str, device: torch.device) -> dict[str, object]:
        key = (dataset, class_name)
        if key not in self.metrics:
            entry = {}
            if "image" in self.levels[dataset]:
                entry["image"] = ImageMetrics().to(device)
            if "pixel" in self.levels[dataset]:
                entry["pixel"] = PixelMetrics(exact=self.exact_pixels, aupro_definition=self.aupro_definition).to(device)
            self.metrics[key] = entry
        return self.metrics[key]

    def update(
        self,
        dataset: str,
        levels: tuple[str, ...],
        class_names: list[str],
        scores: Tensor,
        labels: Tensor,
        index: Tensor,
        maps: Tensor,
        masks: Tensor,
        has_mask: Tensor,
    ) -> None:
        """One batch of one dataset: scores/labels/index [B], maps/masks [B, H, W], has_mask bool [B]."""
        self.levels[dataset] = tuple(levels)
        for class_name in sorted(set(class_names)):
            rows = torch.tensor([c == class_name for c in class_names], device=scores.device)
            metrics = self._metrics_for(dataset, class_name, scores.device)
            if "image" in metrics:
                metrics["image"].update(scores[rows], labels[rows], index[rows])
            if "pixel" in metrics:
                # a normal image's mask is all zeros; an anomalous image whose mask is missing
                # (allowed by the user) has no pixel truth and stays out of the pixel metrics
                pixel_rows = rows & (has_mask | (labels == 0))
                if pixel_rows.any():
                    metrics["pixel"].update(maps[pixel_rows], masks[pixel_rows])

    def _agree_on_classes(self, device: torch.device) -> None:
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return
        gathered: list = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, (self.levels, sorted(self.metrics)))
        for levels, keys in gathered:
            self.levels.update(levels)
            for dataset, class_name in keys:
                self._metrics_for(dataset, class_name, device)

    def results(self, device: torch.device, dataset_order: list[str] | None = None) -> list[ClassResult]:
        """Computed metrics, one ClassResult per (dataset, class): datasets in `dataset_order`
        (then by name), classes by name. The order is the same on every rank, as the metrics'
        synchronisation needs."""
        self._agree_on_classes(device)
        order = {dataset: i for i, dataset in enumerate(dataset_order or [])}
        results = []
        for dataset, class_name in sorted(self.metrics, key=lambda k: (order.get(k[0], len(order)), k[0], k[1])):
            metrics = self.metrics[(dataset, class_name)]
            results.append(
                ClassResult(
                    dataset=dataset,
                    class_name=class_name,
                    image=metrics["image"].compute() if "image" in metrics else None,
                    pixel=metrics["pixel"].compute() if "pixel" in metrics else None,
                )
            )
        return results
