"""The comparison report: a pure function from results folders to report.html (self-contained) and report.md."""

from __future__ import annotations

import base64
import math
import re
import shutil
from dataclasses import dataclass
from html import escape
from pathlib import Path

import pandas as pd

from tipsomaly.report.paper import compare_with_paper
from tipsomaly.report.runs import METRICS, RunResults, best_runs, dataset_means, load_runs, swept_settings
from tipsomaly.report.svg import bar_chart, line_chart


@dataclass
class Report:
    """What a report holds, before rendering (also what the W&B publish step reads)."""

    runs: list[RunResults]
    means: pd.DataFrame  # run, dataset, metrics
    best: pd.DataFrame  # dataset, metric, run, value
    paper: pd.DataFrame  # run, dataset, paper_dataset, metric, ours, paper, difference
    swept: list[str]
    plots: dict[str, str]  # file stem -> SVG text
    overlays: list[tuple[str, str, str, Path]]  # run, dataset, class, png


def collect(run_dirs: list[str | Path], metric: str = "pixel_aupro", overlays_per_class: int = 1) -> Report:
    """Read the folders and compute every table and plot of the report (nothing is written)."""
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is not a results column; choose one of {', '.join(METRICS)}.")
    runs = load_runs(list(run_dirs))
    means = dataset_means(runs)
    swept = swept_settings(runs)
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
    return Report(runs, means, best_runs(means), compare_with_paper(means), swept, plots, overlays)


def build_report(run_dirs: list[str | Path], out: str | Path, metric: str = "pixel_aupro", overlays_per_class: int = 1) -> tuple[Path, Path]:
    """Write ``<out>/report.html`` (SVG and images inline: one file to share) and ``<out>/report.md``
    (with ``plots/*.svg`` and ``overlays/`` beside it). Returns both paths."""
    report = collect(run_dirs, metric, overlays_per_class)
    out = Path(out)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    for stem, svg in report.plots.items():
        (out / "plots" / f"{stem}.svg").write_text(svg)
    copied = []
    for run, dataset, class_name, png in report.overlays:
        target = out / "overlays" / _slug(run) / _slug(dataset) / _slug(class_name) / png.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, target)
        copied.append(target.relative_to(out))
    html_path, md_path = out / "report.html", out / "report.md"
    html_path.write_text(render_html(report))
    md_path.write_text(render_markdown(report, copied))
    return html_path, md_path


def _hashable(value: object) -> bool:
    return not isinstance(value, (list, dict))


def _cell(table: pd.DataFrame, dataset: str, class_name: str, metric: str) -> float:
    if metric not in table.columns:
        return math.nan
    rows = table[(table["dataset"] == dataset) & (table["class"] == class_name)]
    return float(rows[metric].iloc[0]) if len(rows) else math.nan


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "_"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.1f}"
    return str(value)


def _sections(report: Report) -> list[tuple[str, pd.DataFrame]]:
    runs = pd.DataFrame([{"run": r.name, "folder": str(r.path), **{k: r.settings.get(k) for k in report.swept}} for r in report.runs])
    means = report.means.dropna(axis=1, how="all")
    return [("Runs", runs), ("Results per run and dataset (dataset means, percent)", means),
            ("Best run per dataset and metric", report.best),
            ("Against the paper's Table 1 (TIPS, percentage points; KSDD = SDD, DTD = DTD-Synthetic)", report.paper)]


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub pipe table; floats with one decimal, NaN as "-"."""
    if table.empty:
        return "_(nothing to show)_\n"
    cell = lambda v: _fmt(v).replace("|", "\\|")  # noqa: E731
    lines = [list(map(str, table.columns)), ["---"] * len(table.columns), *([cell(v) for v in row] for row in table.itertuples(index=False))]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines) + "\n"


def render_markdown(report: Report, overlay_files: list[Path]) -> str:
    parts = ["# tipsomaly report\n"]
    for title, table in _sections(report):
        parts += [f"## {title}\n", markdown_table(table)]
    parts.append("## Plots\n")
    parts += [f"![{stem}](plots/{stem}.svg)\n" for stem in report.plots]
    if overlay_files:
        parts.append("## Overlays (image | heatmap | ground truth)\n")
        parts += [f"![{p.parent.name}]({p.as_posix()})" for p in overlay_files]
    return "\n".join(parts) + "\n"


def render_html(report: Report) -> str:
    style = ("body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}.grid{display:flex;flex-wrap:wrap;gap:8px}"
             "figure{margin:0}figcaption{font-size:11px}img{max-width:360px}")
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>tipsomaly report</title><style>{style}</style></head><body>",
             "<h1>tipsomaly report</h1>"]
    for title, table in _sections(report):
        parts.append(f"<h2>{escape(title)}</h2>")
        parts.append(table.map(_fmt).to_html(index=False, escape=True) if not table.empty else "<p>(nothing to show)</p>")
    parts.append("<h2>Plots</h2>")
    parts += [f"<div>{svg}</div>" for svg in report.plots.values()]
    if report.overlays:
        parts.append("<h2>Overlays (image | heatmap | ground truth)</h2><div class='grid'>")
        for run, dataset, class_name, png in report.overlays:
            data = base64.b64encode(png.read_bytes()).decode()
            parts.append(f"<figure><img src='data:image/png;base64,{data}'><figcaption>{escape(run)}: {escape(dataset)} / "
                         f"{escape(class_name)} / {escape(png.stem)}</figcaption></figure>")
        parts.append("</div>")
    return "".join(parts) + "</body></html>\n"
