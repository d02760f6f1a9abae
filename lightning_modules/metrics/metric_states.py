"""How ImageMetrics and PixelMetrics keep exact states, through public torch / torchmetrics behaviour only.

Every state is an int64 tensor (or a list of them): counts are stored as counts, and float64 values
as their bit patterns (``to_bits`` / ``from_bits``, a reinterpretation, so no value changes). Why:

- ``Module.to(dtype=...)``, which Lightning's "bf16-true" / "16-true" precision applies to the
  whole LightningModule, casts floating-point tensors only (torch documents this); torchmetrics
  moves states with the same function. Integer states therefore keep their dtype: a bfloat16
  histogram would stop counting at 256, bfloat16 image scores would turn into ties.
- Reductions across processes: counts use torchmetrics' "sum"; float64 sums, minima and maxima
  are callables on the stacked bit patterns (``sum_of_bits`` ...), which torchmetrics applies to
  the states of all ranks stacked along dim 0 (and to (global, local) in ``forward``).
- List states: before a gather, torchmetrics replaces the empty list of a rank that saw no
  sample with an empty tensor of ``Metric.dtype`` (float32, or bfloat16 when the module was
  built under Lightning's bf16-true init context), which then meets int64 tensors from the other
  ranks. ``ExactStateMetric`` keeps one empty int64 tensor in every list state instead (added
  after ``add_state`` and after every ``reset``), so every rank gathers int64.

``tests/metrics/test_metric_states.py`` pins these behaviours on the installed torch and
torchmetrics.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat


def to_bits(values: Tensor) -> Tensor:
    """Any real tensor -> int64 tensor of the same shape holding the bits of its float64 values."""
    return values.to(torch.float64).view(torch.int64)


def from_bits(bits: Tensor) -> Tensor:
    """The inverse of ``to_bits``: int64 [...] -> float64 [...]."""
    return bits.view(torch.float64)


def sum_of_bits(stacked: Tensor) -> Tensor:
    """dist_reduce_fx: float64 sum over dim 0 of states stored as bits; int64 [R, ...] -> int64 [...]."""
    return to_bits(from_bits(stacked).sum(0))


def min_of_bits(stacked: Tensor) -> Tensor:
    """dist_reduce_fx: float64 minimum over dim 0 of states stored as bits."""
    return to_bits(from_bits(stacked).amin(0))


def max_of_bits(stacked: Tensor) -> Tensor:
    """dist_reduce_fx: float64 maximum over dim 0 of states stored as bits."""
    return to_bits(from_bits(stacked).amax(0))


class ExactStateMetric(Metric):
    """A Metric whose states are int64 tensors and lists of int64 tensors (see the module docstring).

    ``add_list_state(name)`` declares a "cat" list state that always holds at least one (empty)
    int64 tensor. ``set_dtype`` is refused: it would cast the bit patterns as numbers.
    """

    def __init__(self, **kwargs: Any) -> None:
        refuse_unsafe_options(type(self).__name__, kwargs)
        super().__init__(**kwargs)
        self._list_states: list[str] = []

    def add_list_state(self, name: str) -> None:
        self.add_state(name, [], dist_reduce_fx="cat")
        self._list_states.append(name)
        getattr(self, name).append(torch.zeros(0, dtype=torch.int64, device=self.device))

    def reset(self) -> None:
        super().reset()
        for name in self._list_states:
            getattr(self, name).append(torch.zeros(0, dtype=torch.int64, device=self.device))

    def set_dtype(self, dst_type: Any) -> Metric:
        raise TypeError(
            f"lightning_modules/metrics: {type(self).__name__} keeps exact int64 states (counts and float64 "
            f"bit patterns) that set_dtype({dst_type}) would corrupt; drop the call, the states need no dtype."
        )

    def list_state(self, name: str) -> Tensor:
        """A list state as one int64 tensor (a list before a sync, a tensor after one)."""
        value = getattr(self, name)
        return dim_zero_cat(value) if isinstance(value, list) else value


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
