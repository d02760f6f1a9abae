"""Results tables as in the paper: one row per dataset and class, mean rows, CSV and Markdown.

Every mean says what it covers. A class whose metric is undefined (a test set with only normal images has no
image AUROC) is left out of its dataset's mean, and a dataset without a value is left out of the mean over
datasets; the `coverage` column of the mean rows and the notes under the Markdown table name what was left
out and why ("image: mean of 12 of 13 sets (btad: no anomalous images)"), so no number quietly covers less
than it seems to.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

MEAN = "mean"
COVERAGE = "coverage"
LEVELS = ("image", "pixel")

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
    n_normal, n_anomalous: the class's test images per label, when known; they let the table say why a metric
        is undefined ("no anomalous images") instead of only that it is.
    note: why the metrics are missing when the reason lies upstream, e.g. "metrics failed: NaN in anomaly map";
        it replaces the reason the counts would give.
    """

    dataset: str
    class_name: str
    image: Mapping[str, float] | None = None
    pixel: Mapping[str, float] | None = None
    n_normal: int | None = None
    n_anomalous: int | None = None
    note: str | None = None


def results_table(results: Iterable[ClassResult]) -> pd.DataFrame:
    """One row per (dataset, class) in the order given, in percent as the paper reports.

    After each dataset's classes comes a row with class "mean": the unweighted mean over its
    classes, as in the paper. The last row (dataset "mean", class "mean") is the unweighted mean
    of the dataset means. Columns: "dataset", "class", then the ``COLUMNS`` of the levels any
    result has, then "coverage". A dataset without a level has NaN there, and means skip NaN (a
    class whose test set lacks one label, a dataset without that level); "coverage" (empty on class
    rows) says on each mean row how many classes / sets each level's mean covers and why any were
    left out.
    """
    results = list(results)
    columns = [
        name
        for (level, key), (name, _) in COLUMNS.items()
        if any(getattr(r, level) is not None and key in getattr(r, level) for r in results)
    ]
    rows: list[dict[str, object]] = []
    dataset_means: list[dict[str, object]] = []
    # per dataset and level: the reason its mean has no value, or None when it has one / the level does not apply
    dataset_levels: dict[str, dict[str, tuple[bool, dict[str, str]]]] = {}
    for dataset in dict.fromkeys(r.dataset for r in results):
        members = [r for r in results if r.dataset == dataset]
        class_rows = [_row(r, columns) for r in members]
        frame = pd.DataFrame(class_rows)
        mean_row = {"dataset": dataset, "class": MEAN, **frame[columns].mean().to_dict()}
        applies = {level: [r.class_name for r in members if getattr(r, level) is not None] for level in LEVELS}
        reasons = {r.class_name: {level: _reason(r, level) for level in LEVELS} for r in members}
        mean_row[COVERAGE] = _coverage(frame.set_index("class")[columns], applies, reasons, "classes")
        rows += [*({**row, COVERAGE: ""} for row in class_rows), mean_row]
        dataset_means.append(mean_row)
        dataset_levels[dataset] = {level: (bool(applies[level]), _dataset_reason(members, level)) for level in LEVELS}
    if dataset_means:
        frame = pd.DataFrame(dataset_means)
        overall = {"dataset": MEAN, "class": MEAN, **frame[columns].mean().to_dict()}
        applies = {level: [d for d, levels in dataset_levels.items() if levels[level][0]] for level in LEVELS}
        reasons = {d: {level: levels[level][1] for level in LEVELS} for d, levels in dataset_levels.items()}
        overall[COVERAGE] = _coverage(frame.set_index("dataset")[columns], applies, reasons, "sets")
        rows.append(overall)
    return pd.DataFrame(rows, columns=["dataset", "class", *columns, COVERAGE])


def to_markdown(table: pd.DataFrame, digits: int = 1) -> str:
    """A GitHub pipe table of ``results_table``; numbers with ``digits`` decimals, NaN as "-".

    The "coverage" column is not a table column but a list of notes under the table, one per mean row.
    """

    def cell(value: object) -> str:
        if isinstance(value, float):
            return "-" if math.isnan(value) else f"{value:.{digits}f}"
        return str(value).replace("|", "\\|")

    shown = table.drop(columns=[COVERAGE], errors="ignore")
    header = [_HEADERS.get(c, c) for c in shown.columns]
    align = ["---" if c in ("dataset", "class") else "--:" for c in shown.columns]
    lines = [header, align, *([cell(v) for v in row] for row in shown.itertuples(index=False))]
    text = "\n".join("| " + " | ".join(line) + " |" for line in lines) + "\n"
    if COVERAGE in table.columns:
        notes = [
            f"- {'mean over datasets' if row['dataset'] == MEAN else row['dataset'] + ' mean'}: {row[COVERAGE]}"
            for _, row in table.iterrows()
            if row["class"] == MEAN and isinstance(row[COVERAGE], str) and row[COVERAGE]
        ]
        if notes:
            text += "\nWhat each mean covers:\n" + "\n".join(notes) + "\n"
    return text


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


def _reason(result: ClassResult, level: str) -> str:
    """Why `result` has no value at `level` (only read when it has none)."""
    if result.note:
        return result.note
    if result.n_anomalous == 0:
        return "no anomalous images"
    if level == "image" and result.n_normal == 0:
        return "no normal images"
    what = "images" if level == "image" else "pixels"
    return f"undefined (needs normal and anomalous {what})"


def _dataset_reason(members: list[ClassResult], level: str) -> str:
    """Why a dataset's mean has no value at `level`: its classes' common reason, if they share one."""
    reasons = sorted({_reason(r, level) for r in members if getattr(r, level) is not None})
    return reasons[0] if len(reasons) == 1 else "no class has a value"


def _coverage(
    values: pd.DataFrame, applies: dict[str, list[str]], reasons: dict[str, dict[str, str]], noun: str
) -> str:
    """"image: mean of 2 of 3 classes (01: no anomalous images); pixel: mean of 3 of 3 classes".

    values: one row per member (class or dataset, index = its name), the metric columns in percent.
    applies: per level, the members that have the level at all; the others are not counted (a set without
    masks is not "missing" pixel metrics). Columns of one level that cover the same members are stated once,
    as the level; a column covering other members than its level's others is stated on its own.
    """
    # (body, members counted) -> labels: statements about the same members merge ("image, pixel: ...")
    statements: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for level in LEVELS:
        level_columns = [name for (lvl, _), (name, _) in COLUMNS.items() if lvl == level and name in values.columns]
        members = applies[level]
        if not level_columns or not members:
            continue
        covered_by = {c: tuple(m for m in members if not math.isnan(values.loc[m, c])) for c in level_columns}
        groups: dict[tuple[str, ...], list[str]] = {}
        for column, covered in covered_by.items():
            groups.setdefault(covered, []).append(column)
        for covered, group in groups.items():
            label = level if len(groups) == 1 else ", ".join(_HEADERS[c] for c in group)
            skipped = [m for m in members if m not in covered]
            body = f"mean of {len(covered)} of {len(members)} {noun}"
            if skipped:
                body += " (" + "; ".join(f"{m}: {reasons[m][level]}" for m in skipped) + ")"
            statements.setdefault((body, tuple(members)), []).append(label)
    return "; ".join(f"{', '.join(labels)}: {body}" for (body, _), labels in statements.items())
