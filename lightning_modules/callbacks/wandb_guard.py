"""One rule for every W&B observer: results are on disk first, and a W&B failure is reported, never raised."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lightning.pytorch.utilities.rank_zero import rank_zero_warn


def wandb_run(trainer) -> Any | None:  # noqa: ANN001
    """The W&B run of the Trainer's first WandbLogger, on rank 0 only; None otherwise (no W&B, other ranks)."""
    if not trainer.is_global_zero:
        return None
    from lightning.pytorch.loggers import WandbLogger

    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            return logger.experiment
    return None


class WandbGuard:
    """Runs W&B calls; the first failure is reported once (what failed, why, where the results are) and
    switches this observer off, because a broken W&B run (full disk, network, a wandb bug) stays broken."""

    def __init__(self, owner: str):
        self.owner = owner
        self.failed = False

    def __call__(self, what: str, action: Callable[[], Any], results_hint: str = "") -> Any | None:
        if self.failed:
            return None
        try:
            return action()
        except Exception as error:  # noqa: BLE001 - any W&B failure must leave the run and its results alone
            self.failed = True
            hint = f"; the results files are intact{' in ' + results_hint if results_hint else ''}"
            rank_zero_warn(f"{self.owner}: W&B logging of {what} failed ({type(error).__name__}: {error}){hint}. "
                           "Further W&B logging from this callback is off for this run.")
            return None
