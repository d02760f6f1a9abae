"""`tipsomaly fit` and `test` end to end on the tiny SigLIP folder, and bad backbones as one line before any work."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
import yaml

from tests.backbones.conftest import SIGLIP_DATA, SIGLIP_FOLDER, write_workspace
from tipsomaly.cli import main

IMAGE_SIZE = 32  # two SigLIP patches of 16 per side


@pytest.fixture(scope="module")
def siglip_workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("siglip_cli")
    write_workspace(root, SIGLIP_FOLDER, IMAGE_SIZE, "siglip.yaml")
    return root


def test_fit_test_and_predict_run_on_a_siglip_folder(siglip_workspace):
    config, fit_dir, test_dir = siglip_workspace / "siglip.yaml", siglip_workspace / "fit", siglip_workspace / "test"
    assert main(["fit", "--config", str(config), "--results_dir", str(fit_dir)]) == 0
    prompts = torch.load(fit_dir / "prompts" / "learnable_prompts_epoch1.pt", weights_only=True)
    assert prompts["normal"].shape == (8, 64)  # the SigLIP text tower's width
    assert main(["test", "--config", str(config), "--ckpt_path", str(fit_dir / "checkpoints" / "last.ckpt"), "--results_dir", str(test_dir)]) == 0
    table = pd.read_csv(test_dir / "test_results.csv")
    assert list(table["class"])[:2] == ["grid_texture", "round_object"]
    assert table["pixel_auroc"].between(0, 100).all() and table["image_auroc"].between(0, 100).all()
    folder = siglip_workspace / "target" / "round_object" / "test"
    predict = ["predict", "--config", str(config), "--model.prompt_checkpoint", str(fit_dir / "prompts" / "learnable_prompts_epoch1.pt"),
               "--data.predict_sets", f"[{{name: line, format: images, root: {folder}}}]", "--results_dir", str(siglip_workspace / "predict")]
    assert main(predict) == 0
    predictions = pd.read_csv(siglip_workspace / "predict" / "predictions.csv")
    assert len(predictions) == 4 and predictions["pred_score"].between(0, 2).all()
    saved = yaml.safe_load((fit_dir / "config_fit.yaml" if (fit_dir / "config_fit.yaml").is_file() else fit_dir / "config.yaml").read_text())
    assert saved["model"]["backbone"]["checkpoint_dir"] == str(SIGLIP_FOLDER)


def _error(capsys, workspace, *args) -> str:
    status = main(["fit", "--config", str(workspace / "siglip.yaml"), "--results_dir", str(workspace / "never"), *map(str, args)])
    assert status == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert not (workspace / "never").exists()
    return lines[0]


def test_an_image_size_off_the_siglip_patch_grid_names_the_backbone_and_16(capsys, siglip_workspace):
    line = _error(capsys, siglip_workspace, "--data.image_size", 28)
    assert "--data.image_size 28 is not a multiple of the patch size 16; use e.g. 32" in line and "backbone 'hf'" in line


def test_a_folder_without_config_json(capsys, siglip_workspace, tmp_path):
    line = _error(capsys, siglip_workspace, "--model.backbone", json.dumps({"checkpoint_dir": str(tmp_path)}))
    assert f"'{tmp_path}' has no config.json" in line


def test_an_unknown_model_type(capsys, siglip_workspace, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "clip"}))
    line = _error(capsys, siglip_workspace, "--model.backbone", json.dumps({"checkpoint_dir": str(tmp_path)}))
    assert "model_type 'clip'" in line and "siglip" in line


def test_a_siglip_folder_with_a_tips_name(capsys, siglip_workspace):
    line = _error(capsys, siglip_workspace, "--model.backbone", json.dumps({"name": "tips-v2-l14", "checkpoint_dir": str(SIGLIP_FOLDER)}))
    assert "holds a SigLIP model" in line and "drop name" in line


def test_a_hub_id_not_in_the_cache_while_offline(capsys, siglip_workspace, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    hub_id = {"name": "google/siglip2-base-patch16-224", "checkpoint_dir": None}
    line = _error(capsys, siglip_workspace, "--model.backbone", json.dumps(hub_id))
    assert "'google/siglip2-base-patch16-224' is not in the local Hugging Face cache" in line


def test_calibrate_and_export_commands_take_a_siglip_folder(siglip_workspace, tmp_path, capsys):
    from tipsomaly.commands.calibrate import calibrate_main
    from tipsomaly.commands.export import export_main

    prompts = str(SIGLIP_DATA / "prompts.pth")  # the reference's own prompt file
    backbone = ["--backbone.checkpoint_dir", str(SIGLIP_FOLDER), "--image_size", "32", "--prompt_file", prompts]
    normal = siglip_workspace / "target" / "round_object" / "test" / "good"
    assert calibrate_main(["--class_name", "round_object", "--normal_dir", str(normal), "--output", str(tmp_path / "t.json"), *backbone]) == 0
    thresholds = json.loads((tmp_path / "t.json").read_text())
    assert thresholds["class_name"] == "round_object"
    output = tmp_path / "siglip.onnx"
    assert export_main(["--class_names", "bottle", "round_object", "--output", str(output), *backbone]) == 0
    out = capsys.readouterr().out
    assert output.is_file() and float(out.split("max |score diff| ")[1].split(",")[0]) < 1e-5
