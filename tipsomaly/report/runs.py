"""Results folders (the layout in tipsomaly/run_folder.py) read back as tables, settings, provenance and overlays.

The settings of a run are those of the stage that produced its results: ``config_test.yaml`` (one config per
stage), else the older single ``config.yaml``; ``test_provenance.json``, when present, says what actually scored.
A sweep folder (``tipsomaly sweep run --out``) stands for its points' ``runNNN/test`` folders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

METRICS = ("image_auroc", "image_ap", "image_f1_max", "pixel_auroc", "pixel_aupro", "pixel_f1_max", "pixel_ap")
CONFIG_FILES = ("config_test.yaml", "config.yaml")  # the test stage's own config first; older folders hold one
PROVENANCE_FILE = "test_provenance.json"
# A loose folder's settings that never count as swept: where files are, how they are cached, what is logged.
NOT_SETTINGS = ("dir", "root", "path", "checkpoint", "cache", "save_maps", "overlays_per_class", "logger", "num_workers",
                "_sets", "tokenizer", "vision_", "text_", "pin_memory", "persistent_workers", "prefetch")
SEED_NAMES = ("seed", "seed_everything")


@dataclass
class RunResults:
    """One results folder.

    name: a label unique among the runs of a report (the folder name; a sweep point's folder name; made unique
        with its parent where two collide).
    table: test_results.csv as written (dataset, class, metric columns in percent, NaN = not applicable).
    settings: the resolved config flattened to dotted keys ("model.n_prompt" -> 8); {} without one. A sweep
        point's swept values (its point.json) override the config's.
    config_file: the config read (config_test.yaml or config.yaml), None without one.
    provenance: test_provenance.json ({} without one).
    sweep_parameters: the parameter keys of the sweep this run is a point of ([] for a loose folder).
    warnings: what is wrong with the folder but still lets it be reported (a truncated table, a corrupt config).
    overlays: (dataset, class, png path) of the overlays the run saved, in file-name order.
    """

    name: str
    path: Path
    table: pd.DataFrame
    settings: dict = field(default_factory=dict)
    overlays: list[tuple[str, str, Path]] = field(default_factory=list)
    config_file: Path | None = None
    provenance: dict = field(default_factory=dict)
    sweep_parameters: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


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


def _read_table(csv: Path) -> tuple[pd.DataFrame, list[str]]:
    """test_results.csv and the warnings it deserves; an empty or unreadable file is one clear error."""
    text = csv.read_text(errors="replace")
    if not text.strip():
        raise ValueError(f"'{csv}' is empty: the test run that wrote it did not finish; rerun `tipsomaly test` into "
                         f"'{csv.parent}' (with --overwrite true), or leave the folder out.")
    try:
        table = pd.read_csv(csv)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ValueError(f"'{csv}' is not a readable results table ({' '.join(str(error).split())}); rerun "
                         f"`tipsomaly test` into '{csv.parent}' (with --overwrite true).") from None
    missing = {"dataset", "class"} - set(table.columns)
    if missing:
        raise ValueError(f"'{csv}' lacks the columns {sorted(missing)}; expected a table written by tipsomaly's ResultsWriter.")
    warnings = []
    if not text.endswith("\n"):
        warnings.append(f"'{csv}' does not end with a complete line: the table is truncated, its last row may be partial.")
    datasets = [d for d in dict.fromkeys(table["dataset"]) if d != "mean"]
    without = [d for d in datasets if not ((table["dataset"] == d) & (table["class"] == "mean")).any()]
    if without:
        warnings.append(f"'{csv}' has no mean row for {', '.join(map(str, without))} (a truncated table?): "
                        "those datasets are left out of the means.")
    if datasets and not ((table["dataset"] == "mean") & (table["class"] == "mean")).any():
        warnings.append(f"'{csv}' has no mean-over-datasets row (a truncated table?).")
    return table, warnings


def _read_config(path: Path) -> tuple[Path | None, dict, list[str]]:
    for name in CONFIG_FILES:
        config = path / name
        if config.is_file():
            try:
                loaded = yaml.safe_load(config.read_text())
            except (yaml.YAMLError, UnicodeDecodeError) as error:
                return config, {}, [f"'{config}' is not valid YAML ({' '.join(str(error).split())[:160]}): this run's "
                                    "settings are left out of the report."]
            if loaded is not None and not isinstance(loaded, dict):
                return config, {}, [f"'{config}' holds a YAML {type(loaded).__name__}, not a config: this run's settings "
                                    "are left out of the report."]
            return config, flatten(loaded or {}), []
    return None, {}, []


def _read_provenance(path: Path) -> tuple[dict, list[str]]:
    file = path / PROVENANCE_FILE
    if not file.is_file():
        return {}, []
    try:
        provenance = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        return {}, [f"'{file}' is not valid JSON ({error}): this run's provenance is left out of the report."]
    return (provenance, []) if isinstance(provenance, dict) else ({}, [f"'{file}' is not a JSON object: left out."])


def load_run(path: str | Path, name: str | None = None) -> RunResults:
    """Read one results folder; it must hold test_results.csv (run ``tipsomaly test`` into it first)."""
    path = Path(path)
    csv = path / "test_results.csv"
    if not csv.is_file():
        raise FileNotFoundError(f"results folder '{path}' has no test_results.csv; pass the --results_dir of a finished "
                                "`tipsomaly test`, or the --out folder of a `tipsomaly sweep run`.")
    table, warnings = _read_table(csv)
    config_file, settings, config_warnings = _read_config(path)
    provenance, provenance_warnings = _read_provenance(path)
    overlays = [(p.parent.parent.name, p.parent.name, p) for p in sorted((path / "overlays").glob("*/*/*.png"))]
    return RunResults(name or path.name, path, table, settings, overlays, config_file, provenance,
                      warnings=[*warnings, *config_warnings, *provenance_warnings])


def load_runs(paths: list[str | Path]) -> list[RunResults]:
    """Read several folders (a sweep folder stands for its points); names are the folder names (a point's
    ``runNNN``), prefixed by the parent's where two collide."""
    from tipsomaly.report.sweep_folders import expand

    if not paths:
        raise ValueError("no results folders given; pass one or more --results_dir folders of `tipsomaly test` "
                         "or the --out folder of `tipsomaly sweep run`.")
    entries = [entry for p in paths for entry in expand(Path(p))]
    labels = [e.label for e in entries]
    runs = []
    for entry in entries:
        run = load_run(entry.folder, f"{entry.parent}/{entry.label}" if labels.count(entry.label) > 1 else entry.label)
        run.settings.update(entry.point)  # the values the sweep asked for, also where the config lacks the key
        run.sweep_parameters = list(entry.sweep_parameters)
        run.warnings.extend(entry.notes)
        runs.append(run)
    return runs


def is_seed(key: str) -> bool:
    """A seed setting: ``seed_everything`` or any setting named ``seed`` (e.g. a few-shot reference draw)."""
    return key.rsplit(".", 1)[-1] in SEED_NAMES


def _is_setting(key: str) -> bool:
    return key.split(".")[0] in ("model", "data") and not any(s in key for s in NOT_SETTINGS)


def _differs(runs: list[RunResults], key: str) -> bool:
    return len({repr(r.settings.get(key)) for r in runs}) > 1


def swept_settings(runs: list[RunResults]) -> list[str]:
    """The swept parameters, seeds apart (those are aggregated, `seed_settings`).

    Runs of a sweep: the sweep file's parameters that take more than one value among the runs. Loose folders:
    the model and data settings that differ, never paths, cache, logging, save_maps or worker settings."""
    if not runs:
        return []
    keys = list(dict.fromkeys(k for r in runs for k in r.sweep_parameters))
    if not all(r.sweep_parameters for r in runs):  # loose folders among them
        keys += sorted(k for k in set().union(*(r.settings for r in runs)) if _is_setting(k) and k not in keys)
    return [k for k in keys if not is_seed(k) and _differs(runs, k)]


def seed_settings(runs: list[RunResults]) -> list[str]:
    """Seed settings whose value differs between the runs."""
    keys = sorted(k for k in set().union(*(r.settings for r in runs)) if is_seed(k)) if runs else []
    return [k for k in keys if _differs(runs, k)]


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
