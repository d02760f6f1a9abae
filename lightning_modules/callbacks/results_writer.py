"""Writes each evaluation's results table (CSV and Markdown) before any logger sees the metrics."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import lightning as L
import pandas as pd
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from datamodules.atomic_files import atomic_path, write_text_atomic
from lightning_modules.metrics.results_table import to_markdown

from .run_folder import RunFolder, WritesToRunFolder


def write_results(table: pd.DataFrame, stem: str | Path, digits: int = 1) -> tuple[Path, Path]:
    """`<stem>.csv` (full precision) and `<stem>.md` (rounded), each written whole or not at all; returns both."""
    stem = Path(stem)
    csv_path, md_path = stem.with_name(stem.name + ".csv"), stem.with_name(stem.name + ".md")
    with atomic_path(csv_path) as temporary:
        table.to_csv(temporary, index=False)
    write_text_atomic(md_path, to_markdown(table, digits))
    return csv_path, md_path


class ResultsWriter(WritesToRunFolder, L.Callback):
    """`test_results.csv|.md` (and `test_provenance.json`) after each test, `val_results_epochN.csv|.md` after each
    validation, in the run folder.

    Runs in `on_*_epoch_end`, which Lightning calls before the module's own hook (where the metrics
    are logged) and before any logger writes: the tables are on disk first. A folder that already
    holds test results is refused at setup unless `overwrite`. If writing fails (disk full, no
    permission), the tables go to a fresh temporary folder instead and the message says where.

    Args:
        results_dir: the folder (a path or the CLI's RunFolder); None = `default_run_folder(trainer)`.
        overwrite: replace existing results instead of refusing.
    """

    def __init__(self, results_dir: str | os.PathLike | RunFolder | None = None, overwrite: bool = False):
        self._given_folder(results_dir)
        self.overwrite = overwrite
        self.written: list[Path] = []

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage in ("fit", "validate", "test"):
            self.check_folder(trainer, stage, self.overwrite)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(trainer, pl_module, "test", self.folder(trainer).results_stem("test"))

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._write(trainer, pl_module, "validate", self.folder(trainer).results_stem("validate", trainer.current_epoch + 1))

    def _write(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str, stem: Path) -> None:
        table, _ = pl_module.evaluation_results(stage)  # every rank: the metrics synchronise
        if not trainer.is_global_zero:
            return
        try:
            paths = write_results(table, stem)
        except OSError as error:
            fallback = Path(tempfile.mkdtemp(prefix="tipsomaly-results-"))
            paths = write_results(table, fallback / stem.name)
            rank_zero_warn(f"could not write results to {stem.parent} ({error}); they are in {fallback}")
        self.written.extend(Path(p) for p in paths)
        if stage == "test":
            self.written.extend(write_provenance(pl_module, paths[0].parent / self.folder(trainer).provenance("test").name))
        rank_zero_info(f"{stage} results written to {paths[0]} and {paths[1]}")


def write_provenance(pl_module: L.LightningModule, path: Path) -> list[Path]:
    """`model.provenance()` (what actually scored) beside the results; [] for a module without one."""
    provenance = getattr(pl_module, "provenance", None)
    if not callable(provenance):
        return []
    write_text_atomic(path, json.dumps(provenance(), indent=2, sort_keys=True, default=str) + "\n")
    return [path]
