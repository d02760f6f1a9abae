"""What ImageMetrics and PixelMetrics share about their torchmetrics states.

States are float64 and stay float64: counts are exact integers up to 2**53, scores keep their
given precision, and one dtype everywhere lets torchmetrics gather from a rank that saw no
sample (it fills an empty list state with a tensor of the metric's dtype).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat


class Float64StateMetric(Metric):
    """A Metric whose states follow the module's device but never its dtype.

    Lightning's "16-true" / "bf16-true" precision calls ``module.to(dtype=...)``, which
    torchmetrics applies to metric states too: bfloat16 histogram counts would stop counting
    at 256. Here states (and their defaults) only move device.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._dtype = torch.float64  # the dtype torchmetrics gives an empty list state before a gather

    def _apply(self, fn: Callable, exclude_state: Any = ()) -> Metric:
        this = super()._apply(fn, exclude_state=tuple(self._defaults))
        device = fn(torch.zeros(1, device=this.device)).device

        def move(value: Tensor | list[Tensor]) -> Tensor | list[Tensor]:
            return value.to(device) if isinstance(value, Tensor) else [v.to(device) for v in value]

        for key, default in this._defaults.items():
            this._defaults[key] = move(default)
            setattr(this, key, move(getattr(this, key)))
        this._device, this._dtype = device, torch.float64
        return this


def refuse_unsafe_options(metric_name: str, kwargs: dict[str, Any]) -> None:
    """Raise ValueError for ``compute_on_cpu=True`` or ``dist_sync_on_step=True``.

    compute_on_cpu moves list states to the CPU after every update, and the gather at compute
    time then hands CPU tensors to NCCL, which only moves CUDA tensors. dist_sync_on_step adds
    collectives to every step. Our states are small (fixed-size histograms, or one score per
    image), so they stay on the device and are synced once, in compute.
    """
    for option in ("compute_on_cpu", "dist_sync_on_step"):
        if kwargs.get(option):
            raise ValueError(
                f"lightning_modules/metrics: {metric_name} does not support {option}=True (it breaks NCCL "
                f"runs or adds per-step collectives); drop the argument, the states are small enough to "
                f"stay on the device."
            )


def cat_list_state(state: list[Tensor] | Tensor, device: torch.device) -> Tensor:
    """A "cat" state (a list before sync, a tensor after) as one float64 tensor; empty if nothing was added."""
    if isinstance(state, list) and not state:
        return torch.zeros(0, dtype=torch.float64, device=device)
    return dim_zero_cat(state)
