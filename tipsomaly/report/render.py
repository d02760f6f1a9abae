"""report.html and report.md from a `build.Report`: the same sections in both.

Header (date, version, commit, the random-weights caveat, warnings) and provenance per run; the runs and their swept
settings; the results (one dataset: one runs x metrics table; several: a compact datasets x metrics table per run,
the best value of each dataset and metric in bold; seeds aggregated as ``mean ± std``); the best run per dataset and
metric; the paper's Table 1 beside ours with each side's AUPRO definition; plots; overlays.
"""

from __future__ import annotations

import base64
import math
from html import escape

import pandas as pd

from tipsomaly.report.aggregate import STD, mean_pm_std
from tipsomaly.report.build import Report, shown_results
from tipsomaly.report.paper import PAPER_AUPRO
from tipsomaly.report.runs import METRICS

Cell = tuple[str, bool]  # text, bold
AUPRO_NOTE = (f"AUPRO: ours is the definition each run's config asked for (model.aupro; the `AUPRO definitions` column), the "
              f"paper's numbers come from its code's own '{PAPER_AUPRO}' AUPRO; on the same maps the two differ by "
              "0.2-0.5 points, so compare AUPRO like for like only when both say reference.")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.1f}"
    return "-" if value is None else str(value)


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub pipe table; floats with one decimal, NaN as "-"."""
    if table.empty:
        return "_(nothing to show)_\n"
    return _markdown(list(map(str, table.columns)), [[(_fmt(v), False) for v in row] for row in table.itertuples(index=False)])


def _markdown(columns: list[str], rows: list[list[Cell]]) -> str:
    if not rows:
        return "_(nothing to show)_\n"
    cell = lambda c: (f"**{c[0]}**" if c[1] else c[0]).replace("|", "\\|")  # noqa: E731
    lines = [columns, ["---"] * len(columns), *([cell(c) for c in row] for row in rows)]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines) + "\n"


def _html(columns: list[str], rows: list[list[Cell]]) -> str:
    if not rows:
        return "<p>(nothing to show)</p>"
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{'<b>' + escape(t) + '</b>' if b else escape(t)}</td>" for t, b in row) + "</tr>"
                   for row in rows)
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def _plain(table: pd.DataFrame) -> tuple[list[str], list[list[Cell]]]:
    return list(map(str, table.columns)), [[(_fmt(v), False) for v in row] for row in table.itertuples(index=False)]


def _metrics(results: pd.DataFrame) -> list[str]:
    return [m for m in METRICS if results[m].notna().any()]


def result_tables(report: Report) -> list[tuple[str, list[str], list[list[Cell]]]]:
    """(title, columns, rows) of the results section: see the module docstring."""
    results = shown_results(report.results)
    if results.empty:
        return [("Results", ["run"], [])]
    metrics = _metrics(results)
    best = {(d, m): results.loc[results["dataset"] == d, m].max() for d in dict.fromkeys(results["dataset"]) for m in metrics}
    several_runs = results["run"].nunique() > 1
    seeded = bool((results["seeds"] > 1).any())

    def cells(record: dict) -> list[Cell]:
        return [(mean_pm_std(record[m], record[m + STD]), several_runs and not math.isnan(record[m]) and record[m] == best[(record["dataset"], m)])
                for m in metrics]

    suffix = ", mean ± std over seeds (sample std), `seeds` = runs aggregated" if seeded else ""
    datasets = list(dict.fromkeys(results["dataset"]))
    if len(datasets) == 1:
        columns = ["run", *report.swept, *(["seeds"] if seeded else []), *metrics]
        rows = [[(str(r["run"]), False), *[(_fmt(r[k]), False) for k in report.swept], *([(str(r["seeds"]), False)] if seeded else []), *cells(r)]
                for r in results.to_dict("records")]
        return [(f"Results on {datasets[0]} (dataset means, percent{suffix}; best in bold)", columns, rows)]
    tables = []
    for run in dict.fromkeys(results["run"]):
        part = results[results["run"] == run].to_dict("records")
        settings = ", ".join(f"{k}={_fmt(part[0][k])}" for k in report.swept)
        seeds = f", {part[0]['seeds']} seeds" if part[0]["seeds"] > 1 else ""
        title = f"{run}" + (f" ({settings}{seeds})" if settings or seeds else "")
        tables.append((title, ["dataset", *metrics], [[(str(r["dataset"]), False), *cells(r)] for r in part]))
    return tables


def _sections(report: Report) -> list[tuple[str, list[str], list[list[Cell]]]]:
    runs = pd.DataFrame([{"run": r.name, "folder": str(r.path), **{k: r.settings.get(k) for k in [*report.swept, *report.seeds]}}
                         for r in report.runs])
    return [("Provenance (what produced each run's numbers)", *_plain(pd.DataFrame(report.header.get("runs", [])))),
            ("Runs", *_plain(runs))]


def best_table(best: pd.DataFrame) -> tuple[list[str], list[list[Cell]]]:
    """`Report.best` as datasets x metrics, each cell "run (value)"."""
    metrics = list(dict.fromkeys(best["metric"]))
    rows = []
    for dataset in dict.fromkeys(best["dataset"]):
        part = best[best["dataset"] == dataset].set_index("metric")
        rows.append([(str(dataset), False), *[(f"{part.loc[m, 'run']} ({part.loc[m, 'value']:.1f})" if m in part.index else "-", False)
                                              for m in metrics]])
    return ["dataset", *metrics], rows


def paper_table(paper: pd.DataFrame) -> tuple[list[str], list[list[Cell]]]:
    """`Report.paper` as one row per (run, dataset): each Table 1 metric as "ours / paper (difference)", and the
    AUPRO definitions of both sides."""
    metrics = list(dict.fromkeys(paper["metric"]))
    rows = []
    for (run, dataset), part in paper.groupby(["run", "dataset"], sort=False):
        part = part.set_index("metric")
        cells = [(f"{part.loc[m, 'ours']:.1f} / {part.loc[m, 'paper']:.1f} ({part.loc[m, 'difference']:+.1f})" if m in part.index else "-", False)
                 for m in metrics]
        aupro = part.loc["pixel_aupro", "definitions"] if "pixel_aupro" in part.index else "-"
        rows.append([(str(run), False), (f"{dataset} = {part['paper_dataset'].iloc[0]}", False), *cells, (aupro, False)])
    return ["run", "dataset", *metrics, "AUPRO definitions"], rows


def _tail_sections(report: Report) -> list[tuple[str, list[str], list[list[Cell]]]]:
    return [("Best run per dataset and metric", *best_table(report.best)),
            ("Against the paper's Table 1 (TIPS): ours / paper (ours - paper), percent; KSDD = SDD, DTD = DTD-Synthetic",
             *paper_table(report.paper))]


def _made(report: Report) -> str:
    h = report.header
    return f"Made {h.get('date', '?')} with tipsomaly {h.get('version', '?')} (commit {h.get('commit', '?')})."


def render_markdown(report: Report, overlay_files: list) -> str:
    parts = ["# tipsomaly report\n", _made(report) + "\n"]
    if report.header.get("caveat"):
        parts.append(f"> **Caveat.** {report.header['caveat']}\n")
    if report.warnings:
        parts.append("**Warnings**\n\n" + "\n".join(f"- {w}" for w in report.warnings) + "\n")
    for title, columns, rows in _sections(report):
        parts += [f"## {title}\n", _markdown(columns, rows)]
    tables = result_tables(report)
    parts.append("## Results\n")
    for title, columns, rows in tables:
        parts += [f"### {title}\n", _markdown(columns, rows)]
    for title, columns, rows in _tail_sections(report):
        parts += [f"## {title}\n", _markdown(columns, rows)]
    parts.append(AUPRO_NOTE + "\n")
    parts.append("## Plots\n")
    parts += [f"![{stem}](plots/{stem}.svg)\n" for stem in report.plots]
    if overlay_files:
        parts.append("## Overlays (image | heatmap | ground truth)\n")
        parts += [f"![{p.parent.name}]({p.as_posix()})" for p in overlay_files]
    return "\n".join(parts) + "\n"


STYLE = ("body{font-family:sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;overflow-wrap:anywhere}"
         "table{border-collapse:collapse;margin:.5em 0}.scroll{max-width:100%;overflow-x:auto}"
         "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right;overflow-wrap:anywhere;max-width:28em}"
         "td:first-child,th:first-child{text-align:left}.caveat{border:2px solid #c44e52;background:#fdecec;padding:.5em 1em}"
         ".warnings{border:2px solid #dd8452;background:#fff4e8;padding:.5em 1em}.grid{display:flex;flex-wrap:wrap;gap:8px}"
         "figure{margin:0}figcaption{font-size:11px;max-width:360px;overflow-wrap:anywhere}img{max-width:360px}svg{max-width:100%;height:auto}")


def render_html(report: Report) -> str:
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>tipsomaly report</title><style>{STYLE}</style></head><body>",
             "<h1>tipsomaly report</h1>", f"<p>{escape(_made(report))}</p>"]
    if report.header.get("caveat"):
        parts.append(f"<p class='caveat'><b>Caveat.</b> {escape(report.header['caveat'])}</p>")
    if report.warnings:
        parts.append("<div class='warnings'><b>Warnings</b><ul>" + "".join(f"<li>{escape(w)}</li>" for w in report.warnings) + "</ul></div>")
    for title, columns, rows in _sections(report):
        parts += [f"<h2>{escape(title)}</h2>", _html(columns, rows)]
    parts.append("<h2>Results</h2>")
    for title, columns, rows in result_tables(report):
        parts += [f"<h3>{escape(title)}</h3>", _html(columns, rows)]
    for title, columns, rows in _tail_sections(report):
        parts += [f"<h2>{escape(title)}</h2>", _html(columns, rows)]
    parts.append(f"<p>{escape(AUPRO_NOTE)}</p><h2>Plots</h2>")
    parts += [f"<div>{svg}</div>" for svg in report.plots.values()]
    if report.overlays:
        parts.append("<h2>Overlays (image | heatmap | ground truth)</h2><div class='grid'>")
        for run, dataset, class_name, png in report.overlays:
            data = base64.b64encode(png.read_bytes()).decode()
            parts.append(f"<figure><img src='data:image/png;base64,{data}'><figcaption>{escape(run)}: {escape(dataset)} / "
                         f"{escape(class_name)} / {escape(png.stem)}</figcaption></figure>")
        parts.append("</div>")
    return "".join(parts) + "</body></html>\n"
