"""The pieces the W&B callbacks are made of, without a run."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from lightning_modules.callbacks.wandb_guard import WandbGuard
from lightning_modules.callbacks.overlay import heat_colours
from lightning_modules.callbacks.wandb_images import WandbImages, overlay_panel
from lightning_modules.callbacks.wandb_results import latest_prompt_file, result_scalars


def test_the_wandb_panels_the_overlay_files_and_the_deployment_overlay_share_one_heat_ramp():
    from lightning_modules.deploy import overlay as deploy_overlay

    values = np.array([[0.0, 0.3, 0.6, 1.0]])
    picture, _ = overlay_panel(torch.zeros(3, 1, 4), torch.tensor(values, dtype=torch.float32), torch.zeros(1, 4))
    assert picture[:, 4:].tolist() == heat_colours(values).tolist()
    assert deploy_overlay.heat_colours is heat_colours
    colours = heat_colours(np.array([[-1.0, 0.0, 1.0, 2.0, math.nan]]))
    assert colours[0].tolist() == [[0, 0, 160], [0, 0, 160], [220, 0, 0], [220, 0, 0], [0, 0, 160]]


def test_overlay_puts_image_beside_heatmap_with_the_mask_under_both():
    image = torch.zeros(3, 4, 4)
    image[0] = 1.0  # red
    mask = torch.zeros(4, 4)
    mask[1, 2] = 1
    picture, truth = overlay_panel(image, torch.ones(4, 4), mask)
    assert picture.shape == (4, 8, 3) and picture.dtype == np.uint8
    assert picture[0, 0].tolist() == [255, 0, 0] and picture[0, 4].tolist() == [220, 0, 0]
    assert truth.shape == (4, 8) and truth[1, 2] == truth[1, 6] == 1 and truth.sum() == 2


def test_result_scalars_skip_names_and_nan():
    table = pd.DataFrame([{"dataset": "visa", "class": "candle", "image_auroc": 91.5, "pixel_aupro": math.nan},
                          {"dataset": "mean", "class": "mean", "image_auroc": 91.5, "pixel_aupro": math.nan}])
    assert result_scalars(table) == {"test/visa/candle/image_auroc": 91.5, "test/mean/mean/image_auroc": 91.5}


def test_latest_prompt_file_orders_epochs_as_numbers(tmp_path):
    for epoch in (2, 10, 9):
        (tmp_path / f"learnable_prompts_epoch{epoch}.pt").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("")
    assert latest_prompt_file(tmp_path).name == "learnable_prompts_epoch10.pt"
    assert latest_prompt_file(tmp_path / "missing") is None


def test_guard_reports_the_first_failure_once_and_stops():
    guard = WandbGuard("WandbResults")
    calls = []

    def broken():
        calls.append(1)
        raise ConnectionError("network unreachable")

    with pytest.warns(UserWarning, match=r"W&B logging of the table failed \(ConnectionError: network unreachable\); "
                                         r"the results files are intact in runs/a\."):
        assert guard("the table", broken, "runs/a") is None
    assert guard("the table", broken) is None and calls == [1]  # switched off: no second attempt, no second warning


def test_overlays_per_class_must_be_positive():
    with pytest.raises(ValueError, match="per_class must be >= 1 overlays per class, got 0"):
        WandbImages(per_class=0)


def test_print_config_shows_the_declared_writers_and_observers_beside_a_configs_own_callbacks(capsys):
    """Declared callbacks (LightningCLI's forced callbacks): visible, configurable, and a config's own
    trainer.callbacks list adds to them instead of replacing them."""
    import yaml

    from tipsomaly.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["test", "--model.backbone", "{name: tips-v1-b14}", "--trainer.callbacks",
              "lightning.pytorch.callbacks.LearningRateMonitor", "--wandb_images.per_class", "2", "--print_config"])
    assert exit_info.value.code == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["trainer"]["callbacks"]["class_path"] == "lightning.pytorch.callbacks.LearningRateMonitor"
    assert config["wandb_images"] == {"per_class": 2, "results_dir": None}
    for key in ("results_writer", "prompt_writer", "prediction_writer", "wandb_results"):
        assert config[key]["results_dir"] is None, key  # the CLI hands them its one run folder


def test_cli_config_is_the_config_of_the_stage_that_runs(tmp_path, monkeypatch):
    """A test into its fit's folder uploads config_test.yaml (sigma 2.0), not the fit's (sigma 4.0)."""
    import yaml

    from lightning_modules.callbacks import wandb_results
    from lightning_modules.callbacks.wandb_results import CONFIG_KEY, WandbResults

    (tmp_path / "config_fit.yaml").write_text(yaml.safe_dump({"model": {"sigma": 4.0}}))
    (tmp_path / "config_test.yaml").write_text(yaml.safe_dump({"model": {"sigma": 2.0}}))

    class Config(dict):
        def update(self, values, allow_val_change=False):
            super().update(values)

    class Run:
        config = Config()

    monkeypatch.setattr(wandb_results, "wandb_run", lambda trainer: Run)
    observer = WandbResults(results_dir=tmp_path)
    observer.on_test_start(trainer=None, pl_module=None)
    assert Run.config[CONFIG_KEY] == {"model": {"sigma": 2.0}}
    observer.on_fit_start(trainer=None, pl_module=None)
    assert Run.config[CONFIG_KEY] == {"model": {"sigma": 4.0}}
