"""Testing on two CPU processes (gloo) gives the same results table as one process."""

import lightning as L
import pandas as pd
import pytest

from datamodules import AnomalyDataModule, make_synthetic_dataset
from lightning_modules import Tipsomaly, TipsSpec
from tests.conftest import tiny_files


def _run(tmp_path, root, devices, name):
    data = AnomalyDataModule(test_sets=[{"name": "odd", "format": "mvtec", "root": str(root)}], image_size=28, batch_size=2, num_workers=0)
    module = Tipsomaly(backbone=TipsSpec(**tiny_files("swiglu")), image_size=28, results_dir=str(tmp_path / name))
    trainer = L.Trainer(
        accelerator="cpu", devices=devices, strategy="ddp_spawn" if devices > 1 else "auto", logger=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    )
    trainer.test(module, data)
    return pd.read_csv(tmp_path / name / "test_results.csv")


def test_two_processes_match_one_on_an_odd_number_of_images(tmp_path):
    # 2 classes x (3 normal + 4 anomalous) = 14 images, 7 per class: each class splits unevenly
    root = make_synthetic_dataset(tmp_path / "data", n_normal=3, n_anomalous=4, image_size=32)
    single = _run(tmp_path, root, 1, "single")
    double = _run(tmp_path, root, 2, "double")
    assert list(single["class"]) == list(double["class"]) == ["grid texture", "round object", "mean", "mean"]
    numeric = single.columns.drop(["dataset", "class"])
    pd.testing.assert_frame_equal(single[numeric], double[numeric], rtol=0, atol=1e-9)
    assert single[numeric].notna().all().all()
