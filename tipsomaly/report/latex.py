"""`report --latex`: the datasets x metrics means as a booktabs table in the paper's Table 1 columns
(image AUROC / AP / F1-max, pixel AUROC / AUPRO / F1-max), one table per run (or seed group).

Needs ``\\usepackage{booktabs}``; values in percent with one decimal, ``mean $\\pm$ std`` over seeds, the best value
of each dataset and metric among the runs in bold.
"""

from __future__ import annotations

import math

import pandas as pd

from tipsomaly.report.aggregate import STD
from tipsomaly.report.paper import paper_name

TABLE1_COLUMNS = (("image_auroc", "AUROC"), ("image_ap", "AP"), ("image_f1_max", "F1-max"),
                  ("pixel_auroc", "AUROC"), ("pixel_aupro", "AUPRO"), ("pixel_f1_max", "F1-max"))
_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
            "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def escape_latex(text: str) -> str:
    return "".join(_SPECIAL.get(ch, ch) for ch in str(text))


def _cell(mean: float, std: float, best: bool) -> str:
    if mean is None or math.isnan(mean):
        return "--"
    text = f"{mean:.1f}" if std is None or math.isnan(std) else f"{mean:.1f} $\\pm$ {std:.1f}"
    return f"\\textbf{{{text}}}" if best else text


def latex_tables(results: pd.DataFrame, aupro: dict[str, str] | None = None) -> str:
    """results: `aggregate.aggregate_means` (run, dataset, metric and metric_std columns). aupro: run -> AUPRO
    definition, named in each caption. The "mean" dataset (mean over datasets) is the last row, after a rule."""
    aupro = aupro or {}
    best = {(d, m): results.loc[results["dataset"] == d, m].max() for d in dict.fromkeys(results["dataset"]) for m, _ in TABLE1_COLUMNS}
    parts = []
    for run in dict.fromkeys(results["run"]):
        rows = results[results["run"] == run]
        body, mean = [], []
        for record in rows.to_dict("records"):
            name = "Mean" if record["dataset"] == "mean" else escape_latex(paper_name(str(record["dataset"])) or record["dataset"])
            several = results["run"].nunique() > 1
            cells = [_cell(record[m], record.get(m + STD), several and record[m] == best[(record["dataset"], m)]) for m, _ in TABLE1_COLUMNS]
            (mean if record["dataset"] == "mean" else body).append(f"{name} & " + " & ".join(cells) + r" \\")
        seeds = int(rows["seeds"].max()) if "seeds" in rows else 1
        note = f", mean $\\pm$ std over {seeds} seeds" if seeds > 1 else ""
        parts += [r"\begin{table}[t]", r"\centering",
                  f"\\caption{{{escape_latex(run)}: zero-shot results (\\%{note}; AUPRO: {escape_latex(aupro.get(run, 'mvtec'))})}}",
                  r"\begin{tabular}{lrrrrrr}", r"\toprule",
                  r" & \multicolumn{3}{c}{Image} & \multicolumn{3}{c}{Pixel} \\", r"\cmidrule(lr){2-4}\cmidrule(lr){5-7}",
                  "Dataset & " + " & ".join(label for _, label in TABLE1_COLUMNS) + r" \\", r"\midrule", *body,
                  *([r"\midrule", *mean] if mean and body else mean), r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(parts)
