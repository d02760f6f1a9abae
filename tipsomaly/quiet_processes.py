"""`QuietProcesses`: the harmless-message filters of tipsomaly/quiet.py in every process of a run."""

from __future__ import annotations

import lightning as L

from tipsomaly.quiet import silence_harmless_messages


class QuietProcesses(L.Callback):
    """Installs the filters at setup, which runs in each process, spawned DDP workers included."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        silence_harmless_messages()
