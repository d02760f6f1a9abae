"""Writes each evaluation's results table (CSV and Markdown) before any logger sees the metrics."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from lightning_modules.metrics import write_results

from .output_folder import check_writable, resolve_folder


class ResultsWriter(L.Callback):
    """`<folder>/test_results.csv|.md` after each test, `<folder>/val_results_epochN.csv|.md` after each validation.

    Runs in `on_*_epoch_end`, which Lightning calls before the module's own hook (where the metrics
    are logged) and before any logger writes: the tables are on disk first. A folder that already
    holds test results is refused at setup unless `overwrite`. If writing fails (disk full, no
    permission), the tables go to a fresh temporary folder instead and the message says where.

    Args:
        results_dir: the folder; None = the trainer's log dir.
        overwrite: replace existing results instead of refusing.
    """

    def __init__(self, results_dir: str | os.PathLike | None = None, overwrite: bool = False):
        self.results_dir = results_dir
        self.overwrite = overwrite
        self.written: list[Path] = []

    def folder(self, trainer: L.Trainer) -> Path:
        return resolve_folder(self.results_dir, trainer)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        patterns = ["test_results.*"] if stage == "test" else ["val_results_epoch*"] if stage in ("fit", "validate") else []
        check_writable(self.folder(trainer), patterns, self.overwrite, "--overwrite true (ResultsWriter(overwrite=True))")

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(trainer, pl_module, "test", "test_results")

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._write(trainer, pl_module, "validate", f"val_results_epoch{trainer.current_epoch + 1}")

    def _write(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str, stem: str) -> None:
        table, _ = pl_module.evaluation_results(stage)  # every rank: the metrics synchronise
        if not trainer.is_global_zero:
            return
        try:
            paths = write_results(table, self.folder(trainer) / stem)
        except OSError as error:
            fallback = Path(tempfile.mkdtemp(prefix="tipsomaly-results-"))
            paths = write_results(table, fallback / stem)
            rank_zero_warn(f"could not write results to {self.folder(trainer)} ({error}); they are in {fallback}")
        self.written.extend(Path(p) for p in paths)
        rank_zero_info(f"{stage} results written to {paths[0]} and {paths[1]}")
