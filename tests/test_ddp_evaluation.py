"""Two CPU processes (gloo) give the same results as one, for sets of any size; validation metrics can be
monitored on every rank. All DDP jobs of this module share one spawn (see tests/ddp.py)."""

import json
from pathlib import Path

import lightning as L
import pandas as pd
import pytest
import torch

from datamodules import AnomalyDataModule, make_synthetic_dataset
from lightning_modules import Tipsomaly, TipsSpec
from lightning_modules.callbacks import ResultsWriter
from tests.conftest import tiny_files
from tests.ddp import run_on_two_processes

SIZE = 28


def _sets(root: Path) -> dict[str, list[dict]]:
    odd = {"name": "odd", "format": "mvtec", "root": str(root / "odd")}
    tiny = {"name": "tiny", "format": "mvtec", "root": str(root / "tiny")}  # one image: smaller than the world
    return {"odd": [odd], "tiny": [tiny], "several": [tiny, odd]}


def _make_data(root: Path) -> None:
    # 2 classes x (3 normal + 4 anomalous) = 14 images, 7 per class: each class splits unevenly
    make_synthetic_dataset(root / "odd", n_normal=3, n_anomalous=4, image_size=32)
    make_synthetic_dataset(root / "tiny", classes=("grid_texture",), n_normal=0, n_anomalous=1, image_size=32)


def _trainer(root: Path, devices: int, **options) -> L.Trainer:
    settings = dict(
        accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto", logger=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=root,
    )  # fmt: skip
    return L.Trainer(**(settings | options))


def _test(root: Path, devices: int, scenario: str) -> None:
    data = AnomalyDataModule(test_sets=_sets(root)[scenario], image_size=SIZE, batch_size=2, num_workers=0)
    module = Tipsomaly(backbone=TipsSpec(**tiny_files("swiglu")))
    out = root / f"{scenario}_{devices}"
    _trainer(root, devices, callbacks=[ResultsWriter(out)]).test(module, data)


class MonitoredMetric(L.Callback):
    """Records, on every rank, the validation metric a ModelCheckpoint monitors."""

    def __init__(self, path: Path, key: str):
        self.path, self.key = path, key

    def on_validation_end(self, trainer, module):
        value = trainer.callback_metrics.get(self.key)
        with open(self.path, "a") as file:
            file.write(json.dumps({"rank": trainer.global_rank, "value": None if value is None else float(value)}) + "\n")


def _fit_with_validation(root: Path, devices: int) -> None:
    torch.manual_seed(0)
    key = "val/odd/mean/pixel_auroc"
    data = AnomalyDataModule(
        train_sets=[{"name": "train", "format": "mvtec", "root": str(root / "tiny")}],
        val_sets=_sets(root)["odd"], image_size=SIZE, batch_size=2, num_workers=0,
    )  # fmt: skip
    module = Tipsomaly(backbone=TipsSpec(**tiny_files("swiglu")), lr=1e-2)
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(dirpath=root / f"ckpt_{devices}", monitor=key, mode="max")
    callbacks = [checkpoint, MonitoredMetric(root / f"monitored_{devices}.jsonl", key)]
    _trainer(root, devices, max_epochs=2, callbacks=callbacks, num_sanity_val_steps=0, enable_checkpointing=True).fit(module, data)


def _jobs(root: Path, devices: int) -> None:
    for scenario in ("odd", "tiny", "several"):
        _test(root, devices, scenario)
    _fit_with_validation(root, devices)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    _make_data(root)
    _jobs(root, 1)
    run_on_two_processes(_jobs, root, 2)
    return root


@pytest.mark.parametrize("scenario", ["odd", "tiny", "several"])
def test_two_processes_match_one(runs, scenario):
    single = pd.read_csv(runs / f"{scenario}_1" / "test_results.csv")
    double = pd.read_csv(runs / f"{scenario}_2" / "test_results.csv")
    assert list(single["dataset"]) == list(double["dataset"]) and list(single["class"]) == list(double["class"])
    numeric = [c for c in single.columns if c.startswith(("image_", "pixel_"))]
    pd.testing.assert_frame_equal(single[numeric], double[numeric], rtol=0, atol=1e-9)
    if scenario == "odd":
        assert list(single["class"]) == ["grid_texture", "round_object", "mean", "mean"]
        assert single[numeric].notna().all().all()


def test_a_set_smaller_than_the_world_is_evaluated_once(runs):
    table = pd.read_csv(runs / "tiny_2" / "test_results.csv")
    # one anomalous image: pixel metrics are defined (normal and anomalous pixels), image metrics are not
    row = table[(table["dataset"] == "tiny") & (table["class"] == "grid_texture")].iloc[0]
    assert 0 <= row["pixel_auroc"] <= 100 and pd.isna(row["image_auroc"])


def test_validation_metrics_are_logged_on_every_rank_and_can_be_monitored(runs):
    records = [json.loads(line) for line in (runs / "monitored_2.jsonl").read_text().splitlines()]
    assert sorted(r["rank"] for r in records) == [0, 0, 1, 1]  # two epochs, both ranks
    assert all(r["value"] is not None for r in records)
    by_epoch = [[r["value"] for r in records if r["rank"] == rank] for rank in (0, 1)]
    assert by_epoch[0] == by_epoch[1]  # the same synchronised values
    assert list((runs / "ckpt_2").glob("*.ckpt"))
