"""Results tables as in the paper: one row per dataset and class, mean rows, CSV and Markdown."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

MEAN = "mean"

# (level, metric key as returned by compute()) -> column name and Markdown header, in table order.
COLUMNS: dict[tuple[str, str], tuple[str, str]] = {
    ("image", "auroc"): ("image_auroc", "image AUROC"),
    ("image", "ap"): ("image_ap", "image AP"),
    ("image", "f1_max"): ("image_f1_max", "image F1-max"),
    ("pixel", "auroc"): ("pixel_auroc", "pixel AUROC"),
    ("pixel", "aupro"): ("pixel_aupro", "pixel AUPRO"),
    ("pixel", "f1_max"): ("pixel_f1_max", "pixel F1-max"),
    ("pixel", "ap"): ("pixel_ap", "pixel AP"),
}
_HEADERS = {"dataset": "dataset", "class": "class", **dict(COLUMNS.values())}


@dataclass(frozen=True)
class ClassResult:
    """The metrics of one class of one dataset, as fractions in [0, 1] (NaN where undefined).

    image: ``ImageMetrics.compute()``, or None when the dataset has no image labels.
    pixel: ``PixelMetrics.compute()``, or None when the dataset has no masks.
    """

    dataset: str
    class_name: str
    image: Mapping[str, float] | None = None
    pixel: Mapping[str, float] | None = None


def results_table(results: Iterable[ClassResult]) -> pd.DataFrame:
    """One row per (dataset, class) in the order given, in percent as the paper reports.

    After each dataset's classes comes a row with class "mean": the unweighted mean over its
    classes, as in the paper. The last row (dataset "mean", class "mean") is the unweighted mean
    of the dataset means. Columns: "dataset", "class", then the ``COLUMNS`` of the levels any
    result has; a dataset without a level has NaN there, and means skip NaN (a class whose test
    set lacks one label, a dataset without that level).
    """
    results = list(results)
    columns = [
        name
        for (level, key), (name, _) in COLUMNS.items()
        if any(getattr(r, level) is not None and key in getattr(r, level) for r in results)
    ]
    rows: list[dict[str, object]] = []
    dataset_means: list[dict[str, object]] = []
    for dataset in dict.fromkeys(r.dataset for r in results):
        class_rows = [_row(r, columns) for r in results if r.dataset == dataset]
        mean_row = {"dataset": dataset, "class": MEAN, **pd.DataFrame(class_rows)[columns].mean().to_dict()}
        rows += [*class_rows, mean_row]
        dataset_means.append(mean_row)
    if dataset_means:
        rows.append({"dataset": MEAN, "class": MEAN, **pd.DataFrame(dataset_means)[columns].mean().to_dict()})
    return pd.DataFrame(rows, columns=["dataset", "class", *columns])


def to_markdown(table: pd.DataFrame, digits: int = 1) -> str:
    """A GitHub pipe table of ``results_table``; numbers with ``digits`` decimals, NaN as "-"."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return "-" if math.isnan(value) else f"{value:.{digits}f}"
        return str(value).replace("|", "\\|")

    header = [_HEADERS.get(c, c) for c in table.columns]
    align = ["---" if c in ("dataset", "class") else "--:" for c in table.columns]
    lines = [header, align, *([cell(v) for v in row] for row in table.itertuples(index=False))]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines) + "\n"


def write_results(table: pd.DataFrame, stem: str | Path, digits: int = 1) -> tuple[Path, Path]:
    """Write ``<stem>.csv`` (full precision) and ``<stem>.md`` (rounded); returns both paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = stem.with_name(stem.name + ".csv"), stem.with_name(stem.name + ".md")
    table.to_csv(csv_path, index=False)
    md_path.write_text(to_markdown(table, digits))
    return csv_path, md_path


def _row(result: ClassResult, columns: list[str]) -> dict[str, object]:
    row: dict[str, object] = {"dataset": result.dataset, "class": result.class_name}
    for (level, key), (name, _) in COLUMNS.items():
        if name in columns:
            values = getattr(result, level) or {}
            row[name] = 100.0 * float(values.get(key, math.nan))
    return row
