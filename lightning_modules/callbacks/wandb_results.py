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

from lightning_modules.tipsomaly.prompt_checkpoint import latest_prompt_file  # helper B: the one finder (re-exported)
from lightning_modules.callbacks.wandb_guard import WandbGuard, results_folder, wandb_run

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


class WandbResults(L.Callback):
    """Logs to the Trainer's WandbLogger (rank 0; does nothing without one):

    - the resolved ``config.yaml`` of the run dir, once, under the run config key ``cli_config``;
    - after ``test``: the results table (``pl_module.test_results``) as a ``wandb.Table`` under
      ``test/results_table`` and every metric as a summary scalar ``test/<dataset>/<class>/<metric>``;
    - after ``fit``: the newest learned prompt file as an artifact of type ``prompts``
      (name ``prompts-<run id>``), which ``tipsomaly.wandb_setup.prompt_file_from_artifact`` fetches back
      by ``entity/project/prompts-<run id>:<version>``.

    Args:
        results_dir: the run's results folder (default: that of the ResultsWriter / PromptWriter callbacks,
            else ``trainer.log_dir``).
    """

    def __init__(self, results_dir: str | None = None):
        self.results_dir = results_dir
        self.guard = WandbGuard(type(self).__name__)
        self._config_logged = False

    def _dir(self, trainer: L.Trainer) -> Path:
        return Path(self.results_dir) if self.results_dir else results_folder(trainer)

    def _run(self, trainer: L.Trainer):
        return self.guard("the run", lambda: wandb_run(trainer))

    def _log_config(self, trainer: L.Trainer) -> None:
        run_dir = self._dir(trainer)
        run = self._run(trainer)
        config = run_dir / "config.yaml"
        if run is None or self._config_logged or not config.is_file():
            return
        self._config_logged = True
        values = yaml.safe_load(config.read_text()) or {}
        self.guard("config.yaml", lambda: run.config.update({CONFIG_KEY: values}, allow_val_change=True), str(run_dir))

    def on_fit_start(self, trainer, pl_module):
        self._log_config(trainer)

    def on_test_start(self, trainer, pl_module):
        self._log_config(trainer)

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
        prompt_file = latest_prompt_file(self._dir(trainer) / "prompts")
        if run is None or prompt_file is None:
            return
        import wandb

        def log_artifact():
            artifact = wandb.Artifact(f"prompts-{run.id}", type=PROMPT_ARTIFACT_TYPE, metadata={"file": prompt_file.name})
            artifact.add_file(str(prompt_file))
            run.log_artifact(artifact)

        self.guard("the prompt artifact", log_artifact, str(prompt_file))
