"""Means say what they cover: a class or a set without a value is named with the reason, never averaged away."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from lightning_modules.metrics import ClassResult, results_table, to_markdown, write_results

NAN = math.nan
IMAGE = {"auroc": 0.9, "ap": 0.8, "f1_max": 0.7}
PIXEL = {"auroc": 0.95, "aupro": 0.9, "f1_max": 0.5, "ap": 0.4}
UNDEFINED_IMAGE = dict.fromkeys(IMAGE, NAN)
UNDEFINED_PIXEL = dict.fromkeys(PIXEL, NAN)


def _coverage(table: pd.DataFrame, dataset: str) -> str:
    return table.set_index(["dataset", "class"]).loc[(dataset, "mean"), "coverage"]


def test_a_set_with_only_normal_images_is_named_in_the_mean_over_sets():
    results = [
        ClassResult("mvtec", "bottle", image=IMAGE, pixel=PIXEL, n_normal=3, n_anomalous=4),
        ClassResult("btad", "01", image=UNDEFINED_IMAGE, pixel=UNDEFINED_PIXEL, n_normal=5, n_anomalous=0),
        ClassResult("visa", "pcb1", image={"auroc": 0.7, "ap": 0.6, "f1_max": 0.5}, pixel=PIXEL, n_normal=2, n_anomalous=2),
    ]
    table = results_table(results)

    assert _coverage(table, "btad") == "image, pixel: mean of 0 of 1 classes (01: no anomalous images)"
    assert _coverage(table, "mean") == "image, pixel: mean of 2 of 3 sets (btad: no anomalous images)"
    assert table.iloc[-1]["image_auroc"] == pytest.approx(80.0)  # (90 + 70) / 2, btad left out
    markdown = to_markdown(table)
    assert "- btad mean: image, pixel: mean of 0 of 1 classes (01: no anomalous images)\n" in markdown
    assert markdown.endswith("- mean over datasets: image, pixel: mean of 2 of 3 sets (btad: no anomalous images)\n")
    assert "coverage" not in markdown.splitlines()[0]


def test_a_class_without_anomalies_is_named_in_its_dataset_mean():
    results = [
        ClassResult("mvtec", "bottle", image=IMAGE, pixel=PIXEL),
        ClassResult("mvtec", "cable", image=UNDEFINED_IMAGE, pixel=UNDEFINED_PIXEL, n_normal=4, n_anomalous=0),
        ClassResult("mvtec", "pill", image={"auroc": 0.5, "ap": 0.6, "f1_max": 0.4}, pixel=PIXEL),
    ]
    table = results_table(results)

    assert _coverage(table, "mvtec") == "image, pixel: mean of 2 of 3 classes (cable: no anomalous images)"
    assert table.set_index(["dataset", "class"]).loc[("mvtec", "mean"), "image_auroc"] == pytest.approx(70.0)
    assert _coverage(table, "mean") == "image, pixel: mean of 1 of 1 sets"


def test_levels_a_set_does_not_have_are_not_counted_as_missing():
    results = [
        ClassResult("headct", "headct", image=IMAGE),  # image labels only
        ClassResult("isic", "isic", pixel=PIXEL),  # every image anomalous: pixel level only
    ]
    table = results_table(results)

    assert _coverage(table, "headct") == "image: mean of 1 of 1 classes"
    assert _coverage(table, "isic") == "pixel: mean of 1 of 1 classes"
    assert _coverage(table, "mean") == "image: mean of 1 of 1 sets; pixel: mean of 1 of 1 sets"


def test_reasons_without_counts_and_upstream_notes():
    results = [
        ClassResult("a", "x", image=IMAGE),
        ClassResult("a", "y", image=UNDEFINED_IMAGE),  # counts unknown: only what a NaN can mean
        ClassResult("a", "z", image=UNDEFINED_IMAGE, note="metrics failed: NaN in an anomaly map"),
        ClassResult("b", "w", image=UNDEFINED_IMAGE, n_normal=0, n_anomalous=6),
    ]
    table = results_table(results)

    assert _coverage(table, "a") == (
        "image: mean of 1 of 3 classes (y: undefined (needs normal and anomalous images); "
        "z: metrics failed: NaN in an anomaly map)"
    )
    assert _coverage(table, "mean") == "image: mean of 1 of 2 sets (b: no normal images)"


def test_a_column_covering_other_classes_than_its_level_is_stated_on_its_own():
    results = [
        ClassResult("m", "a", pixel=PIXEL),
        ClassResult("m", "b", pixel=PIXEL | {"aupro": NAN}),
    ]
    table = results_table(results)

    assert _coverage(table, "m") == (
        "pixel AUROC, pixel F1-max, pixel AP: mean of 2 of 2 classes; "
        "pixel AUPRO: mean of 1 of 2 classes (b: undefined (needs normal and anomalous pixels))"
    )


def test_coverage_survives_the_csv_and_class_rows_leave_it_empty(tmp_path):
    results = [
        ClassResult("mvtec", "bottle", image=IMAGE, pixel=PIXEL),
        ClassResult("btad", "01", image=UNDEFINED_IMAGE, pixel=UNDEFINED_PIXEL, n_anomalous=0),
    ]
    csv_path, md_path = write_results(results_table(results), tmp_path / "test_results")
    table = pd.read_csv(csv_path, keep_default_na=False, na_values=[""])

    assert table.columns[-1] == "coverage"
    assert list(table["coverage"].fillna("")) == [
        "",
        "image, pixel: mean of 1 of 1 classes",
        "",
        "image, pixel: mean of 0 of 1 classes (01: no anomalous images)",
        "image, pixel: mean of 1 of 2 sets (btad: no anomalous images)",
    ]
    assert "What each mean covers:" in md_path.read_text()
