"""configs/few_shot.yaml and its sweep parse through the command as a user runs them."""

from pathlib import Path

import pytest
import yaml

from datamodules import DatasetSpec
from tipsomaly.cli import main
from tipsomaly.sweep import agent_args, grid_points, load_sweep

CONFIGS = Path(__file__).parents[2] / "configs"


def _resolved(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(["test", "--config", str(CONFIGS / "few_shot.yaml"), *args, "--print_config"])
    assert exit_info.value.code == 0
    return yaml.safe_load(capsys.readouterr().out)


def test_the_few_shot_config_sets_k4_seed0_on_sets_with_normal_images(capsys, monkeypatch):
    monkeypatch.setenv("TIPSOMALY_DATA", "/data")
    config = _resolved(capsys)
    assert config["data"]["few_shot"] == {"k": 4, "seed": 0}
    assert config["model"]["few_shot_weight"] == 0.5 and config["model"]["few_shot_only"] is False
    names = [spec["name"] for spec in config["data"]["test_sets"]]
    assert "isic" not in names and "visa" in names and config["data"]["image_size"] == 518
    for spec in config["data"]["test_sets"]:
        DatasetSpec(**{**spec, "root": "/data"})


def test_the_sweep_is_k_1_2_4_times_three_seeds_and_its_arguments_parse(capsys, monkeypatch):
    monkeypatch.setenv("TIPSOMALY_DATA", "/data")
    points = grid_points(load_sweep(CONFIGS / "sweeps" / "few_shot.yaml"))
    assert sorted((p["data.few_shot"]["k"], p["data.few_shot"]["seed"]) for p in points) == [(k, s) for k in (1, 2, 4) for s in (0, 1, 2)]
    assert agent_args(points[4]) == ['--data.few_shot={"k": 2, "seed": 1}']
    assert _resolved(capsys, *agent_args(points[4]))["data"]["few_shot"] == {"k": 2, "seed": 1}
    assert _resolved(capsys, "--data.few_shot.k=2", "--data.few_shot.seed=1")["data"]["few_shot"] == {"k": 2, "seed": 1}
