"""The pieces the W&B callbacks are made of, without a run."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from lightning_modules.callbacks.wandb_guard import WandbGuard
from lightning_modules.callbacks.wandb_images import WandbImages, heatmap_rgb, overlay_panel
from lightning_modules.callbacks.wandb_results import latest_prompt_file, result_scalars


def test_heatmap_runs_from_blue_to_red_and_clips():
    colours = heatmap_rgb(np.array([[-1.0, 0.0, 1.0, 2.0, math.nan]]))
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


def test_the_cli_keeps_the_observers_when_a_config_lists_callbacks_of_its_own():
    from lightning.pytorch.callbacks import LearningRateMonitor

    from lightning_modules.callbacks.wandb_images import WandbImages
    from lightning_modules.callbacks.wandb_results import WandbResults
    from tipsomaly.lightning_cli import _with_wandb_observers

    own = LearningRateMonitor()
    kinds = [type(c) for c in _with_wandb_observers([own])]
    assert kinds == [LearningRateMonitor, WandbResults, WandbImages]
    mine = WandbImages(per_class=2)  # a config's own observer is kept, not doubled
    callbacks = _with_wandb_observers([mine])
    assert callbacks[0] is mine and [type(c) for c in callbacks] == [WandbImages, WandbResults]
