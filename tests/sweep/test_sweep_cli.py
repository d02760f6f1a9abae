"""The local sweep runs a 2x2 grid through the real `tipsomaly` command and collects one table."""

import pandas as pd
import yaml

from datamodules import make_synthetic_dataset
from tests.conftest import tiny_files
from tipsomaly.sweep import run_sweep, sweep_main


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
    assert target["pixel_aupro"].between(0, 100).all() and target["image_auroc"].between(0, 100).all()
    for run in target["run"]:  # each point: fit's prompts went into its test, with the swept settings
        tested = yaml.safe_load((tmp_path / "out" / run / "test" / "config_test.yaml").read_text())
        assert tested["model"]["prompt_checkpoint"] == str(tmp_path / "out" / run / "fit" / "prompts" / "learnable_prompts_epoch1.pt")
        assert tested["model"]["feature_cache"] == "disk"
    assert any((tmp_path / "cache").rglob("*")), "the sweep's runs share one disk feature cache"
    assert "sweep results written to" in capsys.readouterr().out
