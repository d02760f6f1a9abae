"""Runs that differ only by seed, aggregated: each metric as the mean over the seeds and its sample standard
deviation (n - 1), shown as ``mean ± std`` with the number of seeds in a ``seeds`` column.

The few-shot protocol sweeps k x seed: its k values stay apart, its seeds are aggregated.
"""

from __future__ import annotations

import math

import pandas as pd

from tipsomaly.report.runs import METRICS, RunResults

STD = "_std"  # column suffix of a metric's standard deviation over seeds


def run_groups(runs: list[RunResults], swept: list[str], seeds: list[str]) -> list[tuple[str, list[RunResults]]]:
    """(label, runs) in first-seen order: runs with equal swept settings and distinct seeds form one group
    (label: their names joined by "+"); every other run is a group of its own."""
    if not seeds:
        return [(run.name, [run]) for run in runs]
    by_settings: dict[tuple, list[RunResults]] = {}
    for run in runs:
        by_settings.setdefault(tuple(repr(run.settings.get(k)) for k in swept), []).append(run)
    groups = []
    for members in by_settings.values():
        seed_values = {tuple(repr(m.settings.get(k)) for k in seeds) for m in members}
        if len(members) > 1 and len(seed_values) == len(members):
            groups.append(("+".join(m.name for m in members), members))
        else:
            groups.extend((m.name, [m]) for m in members)
    return groups


def aggregate_means(means: pd.DataFrame, groups: list[tuple[str, list[RunResults]]], swept: list[str]) -> pd.DataFrame:
    """means: `runs.dataset_means`. Returns one row per (group, dataset): run (the group label), the swept
    settings, dataset, seeds (runs in the group), each metric's mean and ``<metric>_std`` (NaN for one run)."""
    rows = []
    for label, members in groups:
        names = [m.name for m in members]
        part = means[means["run"].isin(names)]
        for dataset in dict.fromkeys(part["dataset"]):
            values = part[part["dataset"] == dataset]
            row = {"run": label, **{k: members[0].settings.get(k) for k in swept}, "dataset": dataset, "seeds": len(values)}
            for metric in METRICS:
                column = values[metric].dropna()
                row[metric] = float(column.mean()) if len(column) else math.nan
                row[metric + STD] = float(column.std(ddof=1)) if len(column) > 1 else math.nan
            rows.append(row)
    return pd.DataFrame(rows, columns=["run", *swept, "dataset", "seeds", *[c for m in METRICS for c in (m, m + STD)]])


def mean_pm_std(mean: float, std: float) -> str:
    """54.0 and 1.25 -> "54.0 ± 1.2"; without a std (one run) -> "54.0"; NaN mean -> "-"."""
    if mean is None or math.isnan(mean):
        return "-"
    return f"{mean:.1f}" if std is None or math.isnan(std) else f"{mean:.1f} ± {std:.1f}"
