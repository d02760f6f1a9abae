"""Saves the learned prompts after every training epoch (`prompts/learnable_prompts_epochN.pt`)."""

from __future__ import annotations

import os

import lightning as L
from lightning.pytorch.utilities import rank_zero_info

from datamodules.atomic_files import atomic_path
from lightning_modules.tipsomaly.prompt_checkpoint import save_prompt_checkpoint

from .run_folder import RunFolder, WritesToRunFolder


class PromptWriter(WritesToRunFolder, L.Callback):
    """Writes `<run folder>/prompts/learnable_prompts_epochN.pt` (our weights-only format, written whole or not at
    all) on rank 0 each epoch.

    Args:
        results_dir: the folder (a path or the CLI's RunFolder); None = `default_run_folder(trainer)`.
        overwrite: replace prompt files of an earlier run in the same folder instead of refusing at setup.
    """

    def __init__(self, results_dir: str | os.PathLike | RunFolder | None = None, overwrite: bool = False):
        self._given_folder(results_dir)
        self.overwrite = overwrite
        self.last_path = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit":
            self.check_folder(trainer, "fit", self.overwrite)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or pl_module.model.prompts is None:
            return
        path = self.folder(trainer).prompt_file(trainer.current_epoch + 1)
        with atomic_path(path) as temporary:  # renamed when whole, mode 0644 like every other result
            save_prompt_checkpoint(temporary, pl_module.prompt_file())
        self.last_path = path
        rank_zero_info(f"learned prompts saved to {path}")
