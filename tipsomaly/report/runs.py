"""Results folders (the contract in tipsomaly/run_folder.py) read back as tables, settings and overlays."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

METRICS = ("image_auroc", "image_ap", "image_f1_max", "pixel_auroc", "pixel_aupro", "pixel_f1_max", "pixel_ap")


@dataclass
class RunResults:
    """One results folder.

    name: a label unique among the runs of a report (the folder name, made unique with its parent).
    table: test_results.csv as written (dataset, class, metric columns in percent, NaN = not applicable).
    settings: the resolved config.yaml flattened to dotted keys ("model.n_prompt" -> 8); {} without one.
    overlays: (dataset, class, png path) of the overlays the run saved, in file-name order.
    """

    name: str
    path: Path
    table: pd.DataFrame
    settings: dict = field(default_factory=dict)
    overlays: list[tuple[str, str, Path]] = field(default_factory=list)


def flatten(config: dict, prefix: str = "") -> dict:
    """{"model": {"n_prompt": 8}} -> {"model.n_prompt": 8}; lists and scalars are leaves."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def load_run(path: str | Path, name: str | None = None) -> RunResults:
    """Read one results folder; it must hold test_results.csv (run ``tipsomaly test`` into it first)."""
    path = Path(path)
    csv = path / "test_results.csv"
    if not csv.is_file():
        raise FileNotFoundError(f"results folder '{path}' has no test_results.csv; pass the --results_dir of a finished `tipsomaly test`.")
    table = pd.read_csv(csv)
    missing = {"dataset", "class"} - set(table.columns)
    if missing:
        raise ValueError(f"'{csv}' lacks the columns {sorted(missing)}; expected a table written by tipsomaly's ResultsWriter.")
    config = path / "config.yaml"
    settings = flatten(yaml.safe_load(config.read_text()) or {}) if config.is_file() else {}
    overlays = [(p.parent.parent.name, p.parent.name, p) for p in sorted((path / "overlays").glob("*/*/*.png"))]
    return RunResults(name or path.name, path, table, settings, overlays)


def load_runs(paths: list[str | Path]) -> list[RunResults]:
    """Read several folders; names are the folder names, prefixed by the parent's where two collide."""
    if not paths:
        raise ValueError("no results folders given; pass one or more --results_dir folders of `tipsomaly test`.")
    paths = [Path(p) for p in paths]
    names = [p.name for p in paths]
    names = [f"{p.parent.name}/{p.name}" if names.count(p.name) > 1 else p.name for p in paths]
    return [load_run(p, n) for p, n in zip(paths, names)]


def swept_settings(runs: list[RunResults]) -> list[str]:
    """Settings whose value differs between the runs (the swept parameters), sorted; paths are left out."""
    keys = sorted(set().union(*(r.settings for r in runs))) if runs else []
    varied = []
    for key in keys:
        values = {repr(r.settings.get(key)) for r in runs}
        if len(values) > 1 and not any(s in key for s in ("dir", "root", "path", "checkpoint")):
            varied.append(key)
    return varied


def dataset_means(runs: list[RunResults]) -> pd.DataFrame:
    """One row per (run, dataset) with the dataset's "mean" row: columns run, dataset, then the metrics."""
    rows = []
    for run in runs:
        means = run.table[run.table["class"] == "mean"]
        for record in means.to_dict("records"):
            rows.append({"run": run.name, "dataset": record["dataset"], **{m: record.get(m, float("nan")) for m in METRICS}})
    return pd.DataFrame(rows, columns=["run", "dataset", *METRICS])


def best_runs(means: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and metric, the run with the highest value: columns dataset, metric, run, value."""
    rows = []
    for dataset, group in means.groupby("dataset", sort=False):
        for metric in METRICS:
            values = group[metric].dropna()
            if len(values):
                best = values.idxmax()
                rows.append({"dataset": dataset, "metric": metric, "run": group.loc[best, "run"], "value": float(values[best])})
    return pd.DataFrame(rows, columns=["dataset", "metric", "run", "value"])
