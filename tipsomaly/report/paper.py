"""The paper's Table 1 (copied from the reference repository's README image) and the comparison with a run."""

from __future__ import annotations

import re
from importlib import resources

import pandas as pd

PAPER_METHOD = "TIPS (paper)"
# The paper's numbers come from its own code, whose AUPRO is what lightning_modules/metrics/aupro.py calls
# "reference" (200 thresholds, FPR rescaled); ours is whatever the run's config asked for (model.aupro).
PAPER_AUPRO = "reference"

# Our dataset names (DatasetSpec.name / reader format, any case) -> the paper's Table 1 names. The paper's
# KSDD row is the SDD set (KolektorSDD) and its DTD row is DTD-Synthetic.
PAPER_NAMES = {
    "mvtec": "MVTec", "mvtec_ad": "MVTec", "visa": "VisA", "mpdd": "MPDD", "btad": "BTAD",
    "ksdd": "KSDD", "sdd": "KSDD", "kolektorsdd": "KSDD", "dagm": "DAGM",
    "dtd": "DTD", "dtd_synthetic": "DTD", "dtdsynthetic": "DTD",
    "headct": "HeadCT", "brainmri": "BrainMRI", "br35h": "Br35H", "isic": "ISIC",
    "colondb": "ColonDB", "clinicdb": "ClinicDB", "tn3k": "TN3K",
}
# Table 1's (level, metric) -> our results column. The paper prints no pixel AP.
COLUMN = {("image", "auroc"): "image_auroc", ("image", "ap"): "image_ap", ("image", "f1_max"): "image_f1_max",
          ("pixel", "auroc"): "pixel_auroc", ("pixel", "aupro"): "pixel_aupro", ("pixel", "f1_max"): "pixel_f1_max"}


def paper_table() -> pd.DataFrame:
    """Table 1 in long format: method, dataset, level, metric, value (percent); plus ``column`` (ours)."""
    with resources.files(__package__).joinpath("table1.csv").open() as f:
        table = pd.read_csv(f)
    table["column"] = [COLUMN[(level, metric)] for level, metric in zip(table["level"], table["metric"])]
    return table


def paper_name(dataset: str) -> str | None:
    """'visa' -> 'VisA', 'SDD' -> 'KSDD', 'dtd-synthetic' -> 'DTD'; None for a set the paper did not test."""
    return PAPER_NAMES.get(re.sub(r"[\s\-]+", "_", dataset.strip().lower()))


def compare_with_paper(means: pd.DataFrame, method: str = PAPER_METHOD, aupro: dict[str, str] | None = None) -> pd.DataFrame:
    """A run's dataset means beside the paper's numbers.

    means: `runs.dataset_means` (run, dataset, metric columns). aupro: run -> the AUPRO definition its config
    used ("mvtec" when not given). Returns one row per (run, dataset, metric) that Table 1 reports: run,
    dataset, paper_dataset, metric, ours, paper, difference (ours - paper, percentage points), and on the
    pixel_aupro rows ``definitions`` ("ours mvtec, paper reference"): the two AUPROs differ by a few tenths of a
    point on the same maps, so an AUPRO difference is only like for like when both say "reference".
    Datasets the paper did not test are left out.
    """
    aupro = aupro or {}
    paper = paper_table()
    paper = paper[paper["method"] == method].set_index(["dataset", "column"])["value"]
    rows = []
    for record in means.to_dict("records"):
        name = paper_name(str(record["dataset"]))
        if name is None:
            continue
        for column in COLUMN.values():
            if (name, column) in paper.index and pd.notna(record.get(column)):
                ours, theirs = float(record[column]), float(paper[(name, column)])
                definitions = f"ours {aupro.get(record['run'], 'mvtec')}, paper {PAPER_AUPRO}" if column == "pixel_aupro" else ""
                rows.append({"run": record["run"], "dataset": record["dataset"], "paper_dataset": name, "metric": column,
                             "ours": ours, "paper": theirs, "difference": ours - theirs, "definitions": definitions})
    return pd.DataFrame(rows, columns=["run", "dataset", "paper_dataset", "metric", "ours", "paper", "difference", "definitions"])
