"""The local sweep runs a 2x2 grid through the real `tipsomaly` command and collects one table."""

import pandas as pd
import pytest
import yaml

from datamodules import make_synthetic_dataset
from tests.conftest import tiny_files
from tipsomaly.cli import main
from tipsomaly.sweep import sweep_main


def test_a_2x2_grid_through_the_cli_shares_the_feature_cache(tmp_path, capsys):
    make_synthetic_dataset(tmp_path / "source", classes=("grid_texture",), n_normal=2, n_anomalous=2, image_size=32, seed=1)
    make_synthetic_dataset(tmp_path / "target", classes=("round_object",), n_normal=2, n_anomalous=2, image_size=32, seed=2)
    config = {
        "model": {"backbone": tiny_files("mlp")},
        "data": {"train_sets": [{"name": "source", "format": "mvtec", "root": str(tmp_path / "source")}],
                 "test_sets": [{"name": "target", "format": "mvtec", "root": str(tmp_path / "target")}],
                 "image_size": 28, "batch_size": 4, "num_workers": 0},
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "logger": False, "enable_checkpointing": False,
                    "enable_progress_bar": False, "enable_model_summary": False},
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    sweep = {"method": "grid", "metric": {"name": "test/mean/mean/pixel_aupro", "goal": "maximize"},
             "parameters": {"model.n_prompt": {"values": [2, 4]}, "model.prompt_method": {"values": ["concat", "sumate"]}},
             "command": ["${env}", "tipsomaly", "sweep", "point", "--config", str(tmp_path / "tiny.yaml"),
                         "--feature_cache_dir", str(tmp_path / "cache"), "${args}"]}
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(sweep, sort_keys=False))

    assert sweep_main(["run", str(tmp_path / "grid.yaml"), "--out", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / "sweep_results.csv")
    target = table[table["dataset"] == "target"]
    assert list(target["run"]) == ["run000", "run001", "run002", "run003"]
    assert list(target["model.n_prompt"]) == [2, 2, 4, 4] and list(target["model.prompt_method"]) == ["concat", "sumate"] * 2
    metrics = ["image_auroc", "image_ap", "pixel_auroc", "pixel_aupro"]
    for run in target["run"]:  # each point: fit's prompts went into its test, with the swept settings
        test_dir = tmp_path / "out" / run / "test"
        tested = yaml.safe_load((test_dir / "config_test.yaml").read_text())
        assert tested["model"]["prompt_checkpoint"] == str(tmp_path / "out" / run / "fit" / "prompts" / "learnable_prompts_epoch1.pt")
        assert tested["model"]["feature_cache"] == "disk"
        own = pd.read_csv(test_dir / "test_results.csv").query("dataset == 'target' and `class` == 'mean'")
        assert target.loc[target["run"] == run, metrics].to_numpy() == pytest.approx(own[metrics].to_numpy())
    assert any((tmp_path / "cache").rglob("*")), "the sweep's runs share one disk feature cache"
    assert "sweep results written to" in capsys.readouterr().out

    # the table's numbers are what a plain `tipsomaly test` of run003's prompts computes
    prompts = tmp_path / "out" / "run003" / "fit" / "prompts" / "learnable_prompts_epoch1.pt"
    assert main(["test", "--config", str(tmp_path / "tiny.yaml"), "--model.n_prompt=4", "--model.prompt_method=sumate",
                 f"--model.prompt_checkpoint={prompts}", f"--results_dir={tmp_path / 'again'}"]) == 0
    again = pd.read_csv(tmp_path / "again" / "test_results.csv").query("dataset == 'target' and `class` == 'mean'")
    assert target.loc[target["run"] == "run003", metrics].to_numpy() == pytest.approx(again[metrics].to_numpy(), abs=1e-6)
    assert len(set(target["pixel_aupro"].round(6))) > 1, "different prompts, different maps"

    # a rerun into the same folder skips the finished points: no fit, no test, the same table
    assert sweep_main(["run", str(tmp_path / "grid.yaml"), "--out", str(tmp_path / "out")]) == 0
    assert "4 already finished" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "sweep_results.csv"), table)
