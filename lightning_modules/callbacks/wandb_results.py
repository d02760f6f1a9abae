"""Copies what a run has written to disk into its W&B run: config, results table, scalars, prompt artifact.

An observer only: the LightningModule computes `test_results` and the file callbacks write
test_results.csv / prompts/*.pt first; a W&B failure here is reported and leaves those files alone.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pandas as pd
import yaml

from lightning_modules.callbacks.run_folder import RunFolder, WritesToRunFolder
from lightning_modules.callbacks.wandb_guard import WandbGuard, wandb_run
from lightning_modules.tipsomaly.prompt_checkpoint import latest_prompt_file

RESULTS_KEY = "test/results_table"
CONFIG_KEY = "cli_config"
PROMPT_ARTIFACT_TYPE = "prompts"


def result_scalars(table: pd.DataFrame, prefix: str = "test") -> dict[str, float]:
    """``{"<prefix>/<dataset>/<class>/<metric>": percent}`` for every finite cell of a results table
    (the contract's columns: dataset, class, then metrics in percent, NaN = not applicable)."""
    scalars = {}
    for row in table.to_dict("records"):
        for column, value in row.items():
            if column in ("dataset", "class") or not isinstance(value, (int, float)) or math.isnan(value):
                continue
            scalars[f"{prefix}/{row['dataset']}/{row['class']}/{column}"] = float(value)
    return scalars


class WandbResults(WritesToRunFolder, L.Callback):
    """Logs to the Trainer's WandbLogger (rank 0; does nothing without one):

    - the resolved config of the stage that runs (``config_<stage>.yaml`` of the run folder; ``config.yaml`` in
      folders written before one config per stage), once per stage, under the run config key ``cli_config``;
    - after ``test``: the results table (``pl_module.test_results``) as a ``wandb.Table`` under
      ``test/results_table`` and every metric as a summary scalar ``test/<dataset>/<class>/<metric>``;
    - after ``fit``: the newest learned prompt file as an artifact of type ``prompts``
      (name ``prompts-<run id>``), which ``tipsomaly.wandb_setup.prompt_file_from_artifact`` fetches back
      by ``entity/project/prompts-<run id>:<version>``.

    Args:
        results_dir: the run folder (a path or the CLI's RunFolder); None = `default_run_folder(trainer)`.
    """

    def __init__(self, results_dir: str | RunFolder | None = None):
        self._given_folder(results_dir)
        self.guard = WandbGuard(type(self).__name__)
        self._config_logged: set[str] = set()

    def _dir(self, trainer: L.Trainer) -> Path:
        return self.folder(trainer).root

    def _run(self, trainer: L.Trainer):
        return self.guard("the run", lambda: wandb_run(trainer))

    def setup(self, trainer, pl_module, stage: str) -> None:
        self.folder(trainer)  # every rank agrees on the default folder here (a collective call)

    def _log_config(self, trainer: L.Trainer, stage: str) -> None:
        run = self._run(trainer)
        config = self.folder(trainer).config_to_read(stage)
        if run is None or stage in self._config_logged or config is None:
            return
        self._config_logged.add(stage)
        values = yaml.safe_load(config.read_text()) or {}
        self.guard(config.name, lambda: run.config.update({CONFIG_KEY: values}, allow_val_change=True), str(config.parent))

    def on_fit_start(self, trainer, pl_module):
        self._log_config(trainer, "fit")

    def on_validation_start(self, trainer, pl_module):
        if trainer.state.fn == "validate":
            self._log_config(trainer, "validate")

    def on_test_start(self, trainer, pl_module):
        self._log_config(trainer, "test")

    def on_predict_start(self, trainer, pl_module):
        self._log_config(trainer, "predict")

    def on_test_end(self, trainer, pl_module):
        table = getattr(pl_module, "test_results", None)
        run = self._run(trainer)
        if run is None or table is None:
            return
        import wandb

        where = str(self._dir(trainer))
        self.guard("the results table", lambda: run.log({RESULTS_KEY: wandb.Table(dataframe=table)}), where)
        self.guard("the result scalars", lambda: run.summary.update(result_scalars(table)), where)

    def on_fit_end(self, trainer, pl_module):
        run = self._run(trainer)
        prompt_file = latest_prompt_file(self.folder(trainer).prompts)
        if run is None or prompt_file is None:
            return
        import wandb

        def log_artifact():
            artifact = wandb.Artifact(f"prompts-{run.id}", type=PROMPT_ARTIFACT_TYPE, metadata={"file": prompt_file.name})
            artifact.add_file(str(prompt_file))
            run.log_artifact(artifact)

        self.guard("the prompt artifact", log_artifact, str(prompt_file))
