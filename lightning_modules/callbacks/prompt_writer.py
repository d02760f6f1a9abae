"""Saves the learned prompts after every training epoch (`prompts/learnable_prompts_epochN.pt`)."""

from __future__ import annotations

import os

import lightning as L
from lightning.pytorch.utilities import rank_zero_info

from lightning_modules.tipsomaly.prompt_checkpoint import save_prompt_checkpoint

from .output_folder import check_writable, resolve_folder


class PromptWriter(L.Callback):
    """Writes `<folder>/prompts/learnable_prompts_epochN.pt` (our weights-only format) on rank 0 each epoch.

    Args:
        dirpath: the folder; None = the trainer's log dir.
        overwrite: replace prompt files of an earlier run in the same folder instead of refusing at setup.
    """

    def __init__(self, dirpath: str | os.PathLike | None = None, overwrite: bool = False):
        self.dirpath = dirpath
        self.overwrite = overwrite
        self.last_path = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit":
            folder = resolve_folder(self.dirpath, trainer)
            check_writable(folder, ["prompts/learnable_prompts_epoch*.pt"], self.overwrite, "--overwrite true (PromptWriter(overwrite=True))")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or pl_module.model.prompts is None:
            return
        path = resolve_folder(self.dirpath, trainer) / "prompts" / f"learnable_prompts_epoch{trainer.current_epoch + 1}.pt"
        save_prompt_checkpoint(path, pl_module.prompt_file())
        self.last_path = path
        rank_zero_info(f"learned prompts saved to {path}")
