"""What every benchmark shares: a TIPS checkpoint of an official size with random values, in the
official `.npz` layout (`tests/official_format.py`), timers, and the machine line."""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# the random official-format checkpoints live with the tests, which use them too
from tests.official_format import write_random_checkpoint  # noqa: E402,F401


def timed(fn: Callable[[], object], repeats: int = 1, sync: Callable[[], None] = lambda: None) -> float:
    """Best wall-clock seconds of `repeats` calls of fn (after sync), without a warm-up."""
    best = float("inf")
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def machine() -> str:
    """One line naming the machine, the torch build and the load, for the printed figures."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cpu = platform.processor() or platform.machine()
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return (f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads{gpu}; torch {torch.__version__}; "
            f"load average {load:.1f} at start")


class Stopwatch:
    """Seconds spent in wrapped callables, per stage (nested stages are not subtracted)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, owner, name: str, stage: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed_call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - start

        setattr(owner, name, timed_call)
        self._restore.append((owner, name, original))

    @contextlib.contextmanager
    def watching(self):
        self._restore = []
        try:
            yield self
        finally:
            for owner, name, original in reversed(self._restore):
                setattr(owner, name, original)
