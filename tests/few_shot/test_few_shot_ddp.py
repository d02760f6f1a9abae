"""Few-shot mode gives the same tables and predictions on two CPU processes (gloo) as on one: each rank draws the
same references from the same seed and builds the same memory bank."""

import json
from pathlib import Path

import lightning as L
import pandas as pd
import pytest

from datamodules import AnomalyDataModule, make_synthetic_dataset
from lightning_modules import Tipsomaly, TipsSpec
from lightning_modules.callbacks import ResultsWriter
from lightning_modules.callbacks.prediction_writer import PredictionWriter
from tests.conftest import tiny_files
from tests.ddp import run_on_two_processes

SIZE = 56


def _job(root: Path, devices: int) -> None:
    data = AnomalyDataModule(test_sets=[{"name": "syn", "format": "mvtec", "root": str(root / "data")}], image_size=SIZE,
                             batch_size=2, num_workers=0, few_shot={"k": 2, "seed": 7})
    module = Tipsomaly(backbone=TipsSpec(**tiny_files("mlp")), prompt_method="none", feature_cache="off")
    out = root / f"run_{devices}"
    trainer = L.Trainer(accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto", logger=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=root,
                        callbacks=[ResultsWriter(out), PredictionWriter(str(out), overlays_per_class=0)])
    trainer.test(module, data, verbose=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("few_shot_ddp")
    make_synthetic_dataset(root / "data", n_normal=4, n_anomalous=3, image_size=32)  # 7 test images per class: uneven
    _job(root, 1)
    run_on_two_processes(_job, root, 2)
    return root


def test_two_processes_give_the_tables_and_scores_of_one(runs):
    single, double = (pd.read_csv(runs / f"run_{n}" / "test_results.csv") for n in (1, 2))
    numeric = [c for c in single.columns if c.startswith(("image_", "pixel_"))]
    pd.testing.assert_frame_equal(single[numeric], double[numeric], rtol=0, atol=1e-9)
    first, second = (pd.read_csv(runs / f"run_{n}" / "test_predictions.csv") for n in (1, 2))
    assert len(first) == len(second) == 14
    assert list(first["image_path"]) == list(second["image_path"])
    assert (first["pred_score"] - second["pred_score"]).abs().max() <= 1e-6
    references = [json.loads((runs / f"run_{n}" / "few_shot_references.json").read_text()) for n in (1, 2)]
    assert references[0] == references[1] and references[0]["syn"]["seed"] == 7
