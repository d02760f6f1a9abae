"""W&B runs of a project or a sweep, downloaded as results folders the report reads like any other (online only)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from datamodules.atomic_files import write_text_atomic

RESULTS_KEY = "test/results_table"  # where WandbResults logs the results table
CONFIG_KEY = "cli_config"  # and the resolved config


def wandb_results_folders(source: str, out: str | Path, api=None) -> list[Path]:  # noqa: ANN001 - wandb.Api
    """source: ``entity/project`` (every run) or ``entity/project/sweeps/<id>`` (the runs of one sweep).

    Writes ``<out>/wandb_<run id>/test_results.csv`` (the run's logged results table) and ``config.yaml``
    (its logged CLI config) per run that logged a results table; returns those folders in the API's order.
    """
    parts = source.strip("/").split("/")
    if not (len(parts) == 2 or (len(parts) == 4 and parts[2] == "sweeps")):
        raise ValueError(f"W&B source {source!r} is neither 'entity/project' nor 'entity/project/sweeps/<sweep id>'.")
    from tipsomaly.wandb_setup import configure_wandb

    if api is None:
        if configure_wandb() != "online":
            raise RuntimeError(f"reading W&B runs ({source}) needs a W&B account: run `wandb login`, or pass results folders.")
        import wandb

        api = wandb.Api()
    runs = api.sweep("/".join(parts[:2] + parts[3:])).runs if len(parts) == 4 else api.runs("/".join(parts))
    folders = []
    for run in runs:
        logged = run.summary.get(RESULTS_KEY)
        if not logged or "path" not in logged:
            continue  # a run without a test (e.g. a failed point)
        with tempfile.TemporaryDirectory() as tmp:
            downloaded = run.file(logged["path"]).download(root=tmp, replace=True)
            table_json = json.loads(Path(downloaded.name).read_text())
        folder = Path(out) / f"wandb_{run.id}"
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / "test_results.csv", pd.DataFrame(table_json["data"], columns=table_json["columns"]).to_csv(index=False))
        write_text_atomic(folder / "config.yaml", yaml.safe_dump(dict(run.config.get(CONFIG_KEY) or {})))
        folders.append(folder)
    if not folders:
        raise ValueError(f"no run of {source} logged a results table ('{RESULTS_KEY}'); log test runs with WandbResults.")
    return folders
