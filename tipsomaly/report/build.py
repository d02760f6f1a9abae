"""The comparison report: a pure function from results folders to report.html (self-contained), report.md and,
when asked, report.tex (see render.py and latex.py for the forms)."""

from __future__ import annotations

import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from datamodules.atomic_files import atomic_path, write_text_atomic
from tipsomaly.report.aggregate import aggregate_means, run_groups
from tipsomaly.report.header import aupro_definition, report_header
from tipsomaly.report.paper import compare_with_paper
from tipsomaly.report.runs import METRICS, RunResults, best_runs, dataset_means, load_runs, seed_settings, swept_settings
from tipsomaly.report.svg import bar_chart, line_chart


@dataclass
class Report:
    """What a report holds, before rendering (also what the W&B publish step reads)."""

    runs: list[RunResults]
    means: pd.DataFrame  # run, dataset, metrics: every run on its own
    best: pd.DataFrame  # dataset, metric, run, value (over `results`)
    paper: pd.DataFrame  # run, dataset, paper_dataset, metric, ours, paper, difference, definitions
    swept: list[str]
    plots: dict[str, str]  # file stem -> SVG text
    overlays: list[tuple[str, str, str, Path]]  # run, dataset, class, png
    results: pd.DataFrame = None  # run (or seed group), swept, dataset, seeds, metrics, metric_std (aggregate.py)
    seeds: list[str] = field(default_factory=list)  # seed settings aggregated over
    header: dict = field(default_factory=dict)  # header.report_header
    warnings: list[str] = field(default_factory=list)
    aupro: dict[str, str] = field(default_factory=dict)  # run or group -> AUPRO definition


def shown_results(results: pd.DataFrame) -> pd.DataFrame:
    """The rows a table shows: with one dataset, its mean over datasets repeats it, so that row is left out."""
    datasets = [d for d in dict.fromkeys(results["dataset"]) if d != "mean"]
    return results[results["dataset"] != "mean"] if len(datasets) == 1 else results


def collect(run_dirs: list[str | Path], metric: str = "pixel_aupro", overlays_per_class: int = 1) -> Report:
    """Read the folders and compute every table and plot of the report (nothing is written)."""
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is not a results column; choose one of {', '.join(METRICS)}.")
    runs = load_runs(list(run_dirs))
    means = dataset_means(runs)
    swept, seeds = swept_settings(runs), seed_settings(runs)
    groups = run_groups(runs, swept, seeds)
    results = aggregate_means(means, groups, swept)
    aupro = {label: "/".join(dict.fromkeys(aupro_definition(m) for m in members)) for label, members in groups}
    plots = {}
    for dataset in dict.fromkeys(d for r in runs for d in r.table["dataset"] if d != "mean"):
        classes = list(dict.fromkeys(c for r in runs for c in r.table.loc[r.table["dataset"] == dataset, "class"] if c != "mean"))
        series = {r.name: [_cell(r.table, dataset, c, metric) for c in classes] for r in runs}
        plots[f"classes_{_slug(dataset)}_{metric}"] = bar_chart(f"{metric} per class, {dataset}", metric, classes, series)
    for key in swept:
        # numbers in numeric order (4 before 16), anything else by its text; None first
        values = sorted({r.settings.get(key) for r in runs if _hashable(r.settings.get(key))},
                        key=lambda v: (v is not None, not isinstance(v, (int, float)), v if isinstance(v, (int, float)) else str(v)))
        series = {}
        for dataset in dict.fromkeys(means["dataset"]):
            rows = means[means["dataset"] == dataset]
            by_value = {v: [float(rows.loc[rows["run"] == r.name, metric].mean()) for r in runs if r.settings.get(key) == v] for v in values}
            series[str(dataset)] = [float(pd.Series(by_value[v], dtype=float).mean()) for v in values]
        plots[f"sweep_{_slug(key)}_{metric}"] = line_chart(f"{metric} against {key}", metric, [str(v) for v in values], series)
    overlays = []
    for run in runs:
        taken: dict[tuple[str, str], int] = {}
        for dataset, class_name, png in run.overlays:
            if taken.get((dataset, class_name), 0) < overlays_per_class:
                taken[(dataset, class_name)] = taken.get((dataset, class_name), 0) + 1
                overlays.append((run.name, dataset, class_name, png))
    group_means = results.loc[:, ["run", "dataset", *METRICS]]
    return Report(runs, means, best_runs(shown_results(group_means)), compare_with_paper(group_means, aupro=aupro), swept,
                  plots, overlays, results, seeds, report_header(runs), [w for r in runs for w in r.warnings], aupro)


def check_out_folder(out: str | Path) -> Path:
    """The report's folder, or a one-line error when it is a file (checked before anything is read)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out '{out}' is a file; give a folder for report.html, report.md, plots/ and overlays/.")
    return out


def build_report(run_dirs: list[str | Path], out: str | Path, metric: str = "pixel_aupro", overlays_per_class: int = 1,
                 latex: bool = False) -> tuple[Path, ...]:
    """Write ``<out>/report.html`` (SVG and images inline: one file to share) and ``<out>/report.md``
    (with ``plots/*.svg`` and ``overlays/`` beside it), and ``<out>/report.tex`` with ``latex``. Every file is
    written whole (a temporary name, then renamed). Returns the paths of the report files."""
    from tipsomaly.report.latex import latex_tables
    from tipsomaly.report.render import render_html, render_markdown

    out = check_out_folder(out)
    report = collect(run_dirs, metric, overlays_per_class)
    for stem, svg in report.plots.items():
        write_text_atomic(out / "plots" / f"{stem}.svg", svg)
    copied = []
    for run, dataset, class_name, png in report.overlays:
        target = out / "overlays" / _slug(run) / _slug(dataset) / _slug(class_name) / png.name
        with atomic_path(target) as temporary:
            shutil.copyfile(png, temporary)
        copied.append(target.relative_to(out))
    paths = [write_text_atomic(out / "report.html", render_html(report)),
             write_text_atomic(out / "report.md", render_markdown(report, copied))]
    if latex:
        paths.append(write_text_atomic(out / "report.tex", latex_tables(shown_results(report.results), report.aupro)))
    return tuple(paths)


def _hashable(value: object) -> bool:
    return not isinstance(value, (list, dict))


def _cell(table: pd.DataFrame, dataset: str, class_name: str, metric: str) -> float:
    if metric not in table.columns:
        return math.nan
    rows = table[(table["dataset"] == dataset) & (table["class"] == class_name)]
    return float(rows[metric].iloc[0]) if len(rows) else math.nan


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "_"


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub pipe table; floats with one decimal, NaN as "-"."""
    from tipsomaly.report.render import markdown_table as render

    return render(table)
