import math

import pandas as pd
import pytest

from lightning_modules.metrics import ClassResult, results_table, to_markdown, write_results

RESULTS = [
    ClassResult("mvtec", "bottle", image={"auroc": 0.9, "ap": 0.8, "f1_max": 0.7}, pixel={"auroc": 0.95, "aupro": 0.9, "f1_max": 0.5, "ap": 0.4}),
    ClassResult("mvtec", "cable", image={"auroc": 0.7, "ap": 0.6, "f1_max": 0.5}, pixel={"auroc": 0.85, "aupro": 0.7, "f1_max": 0.3, "ap": 0.2}),
    ClassResult("headct", "brain", image={"auroc": 0.8, "ap": 0.9, "f1_max": 0.6}),  # no masks
]


def test_class_rows_then_dataset_means_then_mean_over_datasets_in_percent():
    table = results_table(RESULTS)
    assert list(table["dataset"]) == ["mvtec", "mvtec", "mvtec", "headct", "headct", "mean"]
    assert list(table["class"]) == ["bottle", "cable", "mean", "brain", "mean", "mean"]
    assert list(table.columns[2:]) == ["image_auroc", "image_ap", "image_f1_max", "pixel_auroc", "pixel_aupro", "pixel_f1_max", "pixel_ap", "coverage"]
    mvtec_mean, headct_mean, overall = table.iloc[2], table.iloc[4], table.iloc[5]
    assert mvtec_mean["image_auroc"] == pytest.approx(80.0)
    assert mvtec_mean["pixel_aupro"] == pytest.approx(80.0)
    assert math.isnan(headct_mean["pixel_auroc"])
    assert overall["image_auroc"] == pytest.approx(80.0)  # (80 + 80) / 2: datasets weigh alike
    assert overall["image_ap"] == pytest.approx((70.0 + 90.0) / 2)
    assert overall["pixel_auroc"] == pytest.approx(90.0)  # only mvtec has pixel metrics


def test_markdown_is_a_pipe_table_without_tabulate():
    table = results_table(RESULTS[2:])
    assert to_markdown(table) == (
        "| dataset | class | image AUROC | image AP | image F1-max |\n"
        "| --- | --- | --: | --: | --: |\n"
        "| headct | brain | 80.0 | 90.0 | 60.0 |\n"
        "| headct | mean | 80.0 | 90.0 | 60.0 |\n"
        "| mean | mean | 80.0 | 90.0 | 60.0 |\n"
        "\n"
        "What each mean covers:\n"
        "- headct mean: image: mean of 1 of 1 classes\n"
        "- mean over datasets: image: mean of 1 of 1 sets\n"
    )


def test_writes_csv_and_markdown(tmp_path):
    csv_path, md_path = write_results(results_table(RESULTS), tmp_path / "tables" / "zero_shot")
    assert csv_path.name == "zero_shot.csv" and md_path.name == "zero_shot.md"
    assert pd.read_csv(csv_path)["pixel_aupro"].iloc[0] == pytest.approx(90.0)
    assert "| mvtec | bottle | 90.0 | 80.0 | 70.0 | 95.0 | 90.0 | 50.0 | 40.0 |" in md_path.read_text()
    assert "| headct | brain | 80.0 | 90.0 | 60.0 | - | - | - | - |" in md_path.read_text()
