"""Runs through the `tipsomaly` command with W&B offline (no account here), read back from the offline run files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from datamodules import make_synthetic_dataset
from tests.conftest import tiny_files
from tests.wandb.offline_run import offline_runs, read_offline_run
from tipsomaly.cli import main


@pytest.fixture
def workspace(tmp_path) -> Path:
    """<ws>/source, <ws>/target, <ws>/tiny.yaml and <ws>/wandb.yaml (AutoWandbLogger + the W&B callbacks)."""
    make_synthetic_dataset(tmp_path / "source", n_normal=2, n_anomalous=3, image_size=32, seed=1)
    make_synthetic_dataset(tmp_path / "target", n_normal=2, n_anomalous=3, image_size=32, seed=2)
    tiny = {
        "model": {"backbone": tiny_files("mlp"), "lr": 0.01},
        "data": {"train_sets": [{"name": "source", "format": "mvtec", "root": str(tmp_path / "source")}],
                 "test_sets": [{"name": "target", "format": "mvtec", "root": str(tmp_path / "target")}],
                 "image_size": 28, "batch_size": 4, "num_workers": 0},
        "trainer": {"max_epochs": 2, "accelerator": "cpu", "devices": 1, "enable_progress_bar": False,
                    "enable_model_summary": False, "enable_checkpointing": False, "log_every_n_steps": 1,
                    "default_root_dir": str(tmp_path)},
    }
    logging = {"trainer": {
        "logger": {"class_path": "tipsomaly.wandb_setup.AutoWandbLogger", "init_args": {"save_dir": str(tmp_path / "wandb_runs")}},
    }, "wandb_images": {"per_class": 2}}  # the observers are declared callbacks of the CLI (default_config.yaml)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny))
    (tmp_path / "wandb.yaml").write_text(yaml.safe_dump(logging))
    return tmp_path


def _tipsomaly(workspace, *args) -> None:
    assert main([args[0], "--config", str(workspace / "tiny.yaml"), "--config", str(workspace / "wandb.yaml"), *map(str, args[1:])]) == 0


def test_fit_then_test_logs_losses_table_scalars_overlays_and_the_prompt_artifact(workspace):
    _tipsomaly(workspace, "fit", "--results_dir", workspace / "fit")
    prompts = workspace / "fit" / "prompts" / "learnable_prompts_epoch2.pt"
    _tipsomaly(workspace, "test", "--model.prompt_checkpoint", prompts, "--results_dir", workspace / "test")

    runs = [read_offline_run(f) for f in offline_runs(workspace / "wandb_runs")]  # fit and test each closed their run
    assert len(runs) == 2
    fit, test = sorted(runs, key=lambda r: not any("train/loss_step" in h for h in r.history))  # both may start in one second
    fit_folder, test_folder = fit.folder, test.folder
    steps = [h for h in fit.history if "train/loss_step" in h]
    assert len(steps) == 2 * 3 and all(h["train/seg_step"] > 0 for h in steps)  # 10 images / batch 4, 2 epochs
    assert sum("train/loss_epoch" in h for h in fit.history) == 2
    assert (f"prompts-{fit_folder.name.rsplit('-', 1)[1]}", "prompts") in fit.artifacts
    assert fit.config["cli_config"]["model"]["lr"] == 0.01  # config_fit.yaml, once, under its own key

    table = pd.read_csv(workspace / "test" / "test_results.csv")
    logged = next(h for h in test.history if "test/results_table/path" in h)
    rows = yaml.safe_load((test_folder / "files" / logged["test/results_table/path"]).read_text())
    assert rows["columns"] == list(table.columns) and len(rows["data"]) == len(table)
    mean = table[(table["dataset"] == "mean") & (table["class"] == "mean")]["pixel_aupro"].item()
    assert test.summary["test/mean/mean/pixel_aupro"] == pytest.approx(mean)
    for class_name in ("grid_texture", "round_object"):  # the reader's class names, as in the results table
        key = f"test/overlays/target/{class_name}"
        media = next(h for h in test.history if f"{key}/count" in h)
        assert media[f"{key}/count"] == 2  # per_class, anomalous first
        assert media[f"{key}/width"] == 2 * 28  # image | heatmap
    masks = sorted((test_folder / "files" / "media" / "images" / "mask").rglob("*.png"))
    assert len(masks) == 4 and all(np.asarray(Image.open(m)).max() == 1 for m in masks)  # anomalous ones, with their truth


def test_two_runs_in_one_folder_both_succeed(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    _tipsomaly(workspace, "test")
    _tipsomaly(workspace, "test")
    results = sorted((workspace / "tipsomaly_runs").glob("version_*/test_results.csv"))
    assert len(results) == 2 and len(offline_runs(workspace / "wandb_runs")) == 2


def test_a_wandb_failure_mid_run_is_reported_and_leaves_the_results_complete(workspace, monkeypatch):
    import wandb

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(wandb, "Table", no_space)  # fails inside the results logging, after the files
    monkeypatch.setattr(wandb, "Image", no_space)
    with pytest.warns(UserWarning, match="W&B logging of the results table failed .*No space left on device.*intact"):
        _tipsomaly(workspace, "test", "--results_dir", workspace / "test")
    table = pd.read_csv(workspace / "test" / "test_results.csv")
    assert list(table["dataset"]) == ["target", "target", "target", "mean"] and table["pixel_aupro"].notna().all()
    assert (workspace / "test" / "test_results.md").is_file() and (workspace / "test" / "test_predictions.csv").is_file()


def test_the_cli_defaults_log_to_wandb_unless_the_logger_is_turned_off(workspace, monkeypatch):
    """The CLI's defaults (tipsomaly/default_config.yaml): a config without a logger logs to W&B (offline here)."""
    from tipsomaly.lightning_cli import TipsomalyCLI

    monkeypatch.chdir(workspace)
    cli = TipsomalyCLI(["test", "--config", str(workspace / "tiny.yaml"), "--results_dir", "on"])
    assert type(cli.trainer.logger).__name__ == "AutoWandbLogger"
    (folder,) = offline_runs(workspace / "tipsomaly_runs" / "wandb")
    assert "test/mean/mean/pixel_aupro" in read_offline_run(folder).summary
    cli = TipsomalyCLI(["test", "--config", str(workspace / "tiny.yaml"), "--results_dir", "off", "--trainer.logger", "false"])
    assert cli.trainer.logger is None and len(offline_runs(workspace / "tipsomaly_runs" / "wandb")) == 1
    assert (workspace / "off" / "test_results.csv").is_file()


def test_a_file_where_the_wandb_folder_goes_never_stops_the_run(workspace, monkeypatch, caplog):
    import tempfile

    monkeypatch.chdir(workspace)
    monkeypatch.setattr(tempfile, "tempdir", str(workspace / "tmp"))
    (workspace / "tipsomaly_runs").mkdir()
    (workspace / "tipsomaly_runs" / "wandb").write_text("in the way")
    with caplog.at_level("INFO"):
        assert main(["test", "--config", str(workspace / "tiny.yaml"), "--results_dir", "out"]) == 0
    assert (workspace / "out" / "test_results.csv").is_file()
    (run,) = offline_runs(workspace / "tmp" / "tipsomaly_wandb")
    assert "test/mean/mean/pixel_aupro" in read_offline_run(run).summary
    assert any("is a file, not a folder" in r.getMessage() and "instead (results are not affected)" in r.getMessage()
               for r in caplog.records)


def test_wandb_online_without_a_key_is_one_line_before_the_run(workspace, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "online")
    assert main(["test", "--config", str(workspace / "tiny.yaml"), "--results_dir", str(workspace / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["tipsomaly test: error: W&B is asked to be online (WANDB_MODE=online) but has no API key: run `wandb login` "
                   "or set WANDB_API_KEY (or WANDB_MODE=offline to log locally and `wandb sync` later)."]
    assert not (workspace / "out" / "test_results.csv").exists()


def test_a_key_without_a_reachable_server_still_gives_results_and_an_offline_run(workspace, monkeypatch, caplog):
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens: refused at once
    with caplog.at_level("INFO"):
        assert main(["test", "--config", str(workspace / "tiny.yaml"), "--results_dir", "out"]) == 0
    assert (workspace / "out" / "test_results.csv").is_file()
    assert len(offline_runs(workspace / "tipsomaly_runs" / "wandb")) == 1
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("W&B is offline")]
    assert len(said) == 1 and "credentials found, but the W&B server 127.0.0.1:9 is unreachable" in said[0]
