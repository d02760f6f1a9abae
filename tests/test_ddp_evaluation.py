"""Two CPU processes (gloo) give the same results as one, for sets of any size; validation metrics can be
monitored on every rank. All DDP jobs of this module share one spawn (see tests/ddp.py)."""

import json
from pathlib import Path

import lightning as L
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from datamodules import AnomalyDataModule, make_synthetic_dataset
from lightning_modules import Tipsomaly, TipsSpec
from lightning_modules.callbacks import ResultsWriter
from lightning_modules.callbacks.prediction_writer import PredictionWriter
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
    # 7 images: 4 + 3 on two ranks, which Lightning's DistributedSampler pads with one unmarked repeat
    make_synthetic_dataset(root / "seven", classes=("round_object",), n_normal=3, n_anomalous=4, image_size=32, seed=5)


def _trainer(root: Path, devices: int, **options) -> L.Trainer:
    settings = dict(
        accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto", logger=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=root,
    )  # fmt: skip
    return L.Trainer(**(settings | options))


def _test_through_dataloaders(root: Path, devices: int) -> None:
    """`trainer.test(model, dataloaders=...)` with loaders built before the process group exists: Lightning gives
    them its padding DistributedSampler (7 images on 2 ranks: one unmarked repeat), which must not count."""
    seven = [{"name": "seven", "format": "mvtec", "root": str(root / "seven")}]
    data = AnomalyDataModule(test_sets=seven, image_size=SIZE, batch_size=2, num_workers=0)
    data.setup("test")
    loaders = data.test_dataloader()
    samplers = sorted({type(loader.sampler).__name__ for loader in loaders})
    (root / f"samplers_{devices}_{torch.distributed.is_initialized()}.json").write_text(json.dumps(samplers))
    module = Tipsomaly(backbone=TipsSpec(**tiny_files("swiglu")))
    out = root / f"loaders_{devices}"
    _trainer(root, devices, callbacks=[ResultsWriter(out), PredictionWriter(str(out))]).test(module, dataloaders=loaders)


def _refuse_an_untrusted_sampler(root: Path, devices: int) -> None:
    """Without Lightning's sampler, every rank would evaluate every image: refused, not silently counted twice."""
    data = AnomalyDataModule(test_sets=_sets(root)["odd"], image_size=SIZE, batch_size=2, num_workers=0)
    data.setup("test")
    loaders = [DataLoader(d, batch_size=2, collate_fn=l.collate_fn) for d, l in zip(data.test_datasets, data.test_dataloader())]
    module = Tipsomaly(backbone=TipsSpec(**tiny_files("swiglu")))
    try:
        _trainer(root, devices, use_distributed_sampler=False).test(module, dataloaders=loaders)
        message = "accepted"
    except ValueError as error:
        message = str(error)
    (root / f"refused_{devices}_rank{torch.distributed.get_rank() if torch.distributed.is_initialized() else 0}.txt").write_text(message)


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
    _test_through_dataloaders(root, devices)  # first: its loaders are built before any process group
    for scenario in ("odd", "tiny", "several"):
        _test(root, devices, scenario)
    _fit_with_validation(root, devices)
    _refuse_an_untrusted_sampler(root, devices)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    _make_data(root)
    # each DDP rank computes with one thread (Lightning gives each process cores // processes): the one-process run
    # does too, so what is compared is the sharding and padding, not the order of a multi-threaded matmul's sums
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _jobs(root, 1)
    finally:
        torch.set_num_threads(threads)
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
    table, single = (pd.read_csv(runs / f"tiny_{n}" / "test_results.csv") for n in (2, 1))
    # one anomalous image: pixel metrics are defined (normal and anomalous pixels), image metrics are not
    row = table[(table["dataset"] == "tiny") & (table["class"] == "grid_texture")].iloc[0]
    assert row["pixel_auroc"] == single.iloc[0]["pixel_auroc"] and not pd.isna(row["pixel_auroc"]) and pd.isna(row["image_auroc"])


def test_loaders_given_to_trainer_test_count_every_image_once_under_ddp(runs):
    # the loaders really were built without a process group, so Lightning added its padding sampler
    assert json.loads((runs / "samplers_2_False.json").read_text()) == ["SequentialSampler"]
    single = pd.read_csv(runs / "loaders_1" / "test_results.csv")
    double = pd.read_csv(runs / "loaders_2" / "test_results.csv")
    numeric = [c for c in single.columns if c.startswith(("image_", "pixel_"))]
    pd.testing.assert_frame_equal(single[numeric], double[numeric], rtol=0, atol=1e-9)
    assert single[numeric].notna().all().all()
    rows = [pd.read_csv(runs / f"loaders_{n}" / "test_predictions.csv") for n in (1, 2)]
    assert len(rows[0]) == len(rows[1]) == 7  # no repeated image
    assert sorted(rows[1]["image_path"]) == sorted(rows[0]["image_path"])


def test_a_sampler_that_cannot_be_trusted_under_ddp_is_refused(runs):
    assert (runs / "refused_1_rank0.txt").read_text() == "accepted"  # one process: every image once
    for rank in (0, 1):
        message = (runs / f"refused_2_rank{rank}.txt").read_text()
        assert "under DDP (2 processes) its sampler SequentialSampler may repeat or skip samples" in message


def test_validation_metrics_are_logged_on_every_rank_and_can_be_monitored(runs):
    records = [json.loads(line) for line in (runs / "monitored_2.jsonl").read_text().splitlines()]
    assert sorted(r["rank"] for r in records) == [0, 0, 1, 1]  # two epochs, both ranks
    assert all(r["value"] is not None for r in records)
    by_epoch = [[r["value"] for r in records if r["rank"] == rank] for rank in (0, 1)]
    assert by_epoch[0] == by_epoch[1]  # the same synchronised values
    assert list((runs / "ckpt_2").glob("*.ckpt"))
