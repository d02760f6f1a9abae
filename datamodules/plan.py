"""What evaluating a set computes, declared by the data before the first batch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SetPlan:
    """One evaluated set: its name, its reader class names (in order), its metric levels ("image", "pixel"),
    and per class the number of (normal, anomalous) images, when known (the results table says why a metric is
    undefined with them); `note`, when not empty, is a remark for the set's coverage in the results table (e.g.
    few-shot references taken from its test images)."""

    dataset: str
    classes: tuple[str, ...]
    levels: tuple[str, ...]
    counts: tuple[tuple[int, int], ...] = ()
    note: str = ""
