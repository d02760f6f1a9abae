"""Per-dataset, per-class metrics for test and validation runs, built before the first batch; DDP-safe.

Every evaluated set declares its classes and metric levels up front (`EvaluationPlan`, read from
the dataset when the data is set up), so every rank builds the same metrics in the same order
and synchronises them at the end without first agreeing on what it saw.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from datamodules.plan import SetPlan
from lightning_modules.metrics import ClassResult, ImageMetrics, PixelMetrics

LEVELS = ("image", "pixel")


def plan_of(dataset, where: str) -> SetPlan:
    """The SetPlan of a dataset that knows its classes and levels (an `AnomalyDataset`)."""
    plan = getattr(dataset, "evaluation_plan", None)
    if plan is None:
        raise TypeError(
            f"{where} wraps a {type(dataset).__name__}, which does not declare its classes and metric levels; "
            "evaluate with datamodules.AnomalyDataset (or give the dataset an `evaluation_plan()` returning a SetPlan)"
        )
    return plan()


@dataclass
class ClassFailure:
    """A class whose metrics could not be computed, and why."""

    dataset: str
    class_name: str
    error: str


class ClassMetrics(nn.Module):
    """ImageMetrics and PixelMetrics per (dataset, class) of the given plans."""

    def __init__(self, plans: list[SetPlan], exact_pixels: bool = False, aupro_definition: str = "mvtec"):
        super().__init__()
        names = [plan.dataset for plan in plans]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"evaluation.py: the evaluated sets {repeated} appear twice; give each set its own name")
        self.plans = list(plans)
        self.keys: dict[tuple[str, str], str] = {}
        self.counts = {(plan.dataset, c): n for plan in plans for c, n in zip(plan.classes, plan.counts)}
        metrics = {}
        for plan in plans:
            for class_name in plan.classes:
                key = f"m{len(self.keys)}"  # ModuleDict keys may not hold dots; names map here
                self.keys[(plan.dataset, class_name)] = key
                entry = {}
                if "image" in plan.levels:
                    entry["image"] = ImageMetrics()
                if "pixel" in plan.levels:
                    entry["pixel"] = PixelMetrics(exact=exact_pixels, aupro_definition=aupro_definition)
                metrics[key] = nn.ModuleDict(entry)
        self.metrics = nn.ModuleDict(metrics)

    def update(
        self,
        dataset_names: list[str],
        class_names: list[str],
        scores: Tensor,
        labels: Tensor,
        index: Tensor,
        maps: Tensor,
        masks: Tensor,
        has_mask: Tensor,
        is_padding: list[bool] | None = None,
        region_weights: Tensor | None = None,
        pixel_truth: list[bool] | None = None,
    ) -> None:
        """One batch: names B strings (reader class names); scores/labels/index [B], maps/masks [B, H, W];
        has_mask bool [B]; is_padding: B bools, host-side (padding rows, added so that every DDP rank has a
        batch, are skipped); region_weights [B, H, W] AUPRO region weights precomputed by the data workers."""
        count = len(class_names)
        truth = pixel_truth if pixel_truth is not None else (has_mask | (labels == 0)).tolist()
        groups: dict[tuple[str, str], list[int]] = {}
        for i, key in enumerate(zip(dataset_names, class_names)):
            if not (is_padding is not None and is_padding[i]):
                groups.setdefault(key, []).append(i)
        for key, rows in groups.items():
            if key not in self.keys:
                raise ValueError(
                    f"evaluation.py: a batch holds class {key[1]!r} of set {key[0]!r}, which the set did not declare; "
                    "evaluate each set with its own dataloader"
                )
            metrics = self.metrics[self.keys[key]]
            if "image" in metrics:
                take = _rows(rows, count, scores.device)
                metrics["image"].update(*(t if take is None else t[take] for t in (scores, labels, index)))
            if "pixel" in metrics:
                # a normal image's mask is all zeros; an anomalous image whose mask is missing
                # (allowed by the user) has no pixel truth and stays out of the pixel metrics
                take = _rows([i for i in rows if truth[i]], count, maps.device)
                picked = [t if take is None else t[take] for t in (maps, masks)]
                if region_weights is None:
                    metrics["pixel"].update(*picked)
                else:
                    metrics["pixel"].update(*picked, region_weights=region_weights if take is None else region_weights[take])

    def results(self) -> tuple[list[ClassResult], list[ClassFailure]]:
        """One ClassResult per (dataset, class) in plan order, and the classes whose metrics failed.

        Every rank must call this (metrics synchronise); all ranks hold the same synced states, so
        a failure (e.g. NaN maps) happens on all of them alike and the other classes still count.
        """
        results, failures = [], []
        for (dataset, class_name), key in self.keys.items():
            metrics = self.metrics[key]
            try:
                with warnings.catch_warnings():
                    # a class this rank never saw is expected (the plan lists every class; DDP splits them)
                    warnings.filterwarnings("ignore", message=r".*was called before the ``update`` method.*")
                    image = metrics["image"].compute() if "image" in metrics else None
                    pixel = metrics["pixel"].compute() if "pixel" in metrics else None
                note = None
            except ValueError as error:
                failures.append(ClassFailure(dataset, class_name, str(error)))
                image = {k: float("nan") for k in ("auroc", "ap", "f1_max")} if "image" in metrics else None
                pixel = {k: float("nan") for k in ("auroc", "ap", "f1_max", "aupro")} if "pixel" in metrics else None
                note = f"metrics failed: {error}"
            n_normal, n_anomalous = self.counts.get((dataset, class_name), (None, None))
            results.append(
                ClassResult(dataset=dataset, class_name=class_name, image=image, pixel=pixel, n_normal=n_normal, n_anomalous=n_anomalous, note=note)
            )
        return results, failures


def _rows(rows: list[int], count: int, device: torch.device) -> Tensor | None:
    """An index of `rows` on `device` (copied from pinned memory, so without a sync), or None for all `count` rows."""
    if len(rows) == count:
        return None
    index = torch.tensor(rows, dtype=torch.long)
    if device.type == "cuda":
        index = index.pin_memory()
    return index.to(device, non_blocking=True)
