"""A callback that stops a fit the way a user or a scheduler does, in the second epoch (tests only)."""

from __future__ import annotations

import os
import signal

import lightning as L


class StopInSecondEpoch(L.Callback):
    """`how`: "sigterm" (a scheduler's kill) or "ctrl-c" (KeyboardInterrupt), at the first batch of the second
    epoch, when the fit was not resumed (so the resumed fit runs on)."""

    def __init__(self, how: str = "sigterm"):
        self.how = how

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.current_epoch != 1 or batch_idx != 0 or trainer.ckpt_path is not None:
            return
        if self.how == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)  # Lightning notes it and stops after this batch
        else:
            raise KeyboardInterrupt


class StopTest(L.Callback):
    """SIGTERM at the first test batch (a scheduler's kill during evaluation)."""

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 0:
            os.kill(os.getpid(), signal.SIGTERM)
