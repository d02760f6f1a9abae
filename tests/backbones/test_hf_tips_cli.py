"""The tiny TIPSv2 saved by transformers (tests/data/hf_tipsv2/hf) through every command: fit, test from the fit's
checkpoint, predict with calibrated thresholds, calibrate and export, with `model.backbone: {checkpoint_dir: FOLDER}`
alone (no name, no transformers)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.backbones.conftest import write_workspace
from tipsomaly.cli import main

HF_FOLDER = Path(__file__).parents[1] / "data" / "hf_tipsv2" / "hf"
IMAGE_SIZE = 28


@pytest.fixture(scope="module")
def hf_workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf_tips_cli")
    write_workspace(root, HF_FOLDER, IMAGE_SIZE, "hf.yaml", n_target_normal=3)
    return root


def test_every_command_runs_on_a_hugging_face_tips_folder(hf_workspace, capsys):
    from tipsomaly.commands.calibrate import calibrate_main
    from tipsomaly.commands.export import export_main

    root, config = hf_workspace, str(hf_workspace / "hf.yaml")
    assert main(["fit", "--config", config, "--results_dir", str(root / "fit")]) == 0
    prompts = root / "fit" / "prompts" / "learnable_prompts_epoch1.pt"
    assert main(["test", "--config", config, "--ckpt_path", str(root / "fit" / "checkpoints" / "last.ckpt"),
                 "--results_dir", str(root / "test")]) == 0
    provenance = json.loads((root / "test" / "test_provenance.json").read_text())
    assert provenance["backbone"]["kind"] == "tips" and provenance["backbone"]["label"] == "hf"
    assert provenance["prompt_hash"] is not None  # the fit's prompts scored, not the fixed ones

    backbone = ["--backbone.checkpoint_dir", str(HF_FOLDER), "--image_size", str(IMAGE_SIZE), "--prompt_file", str(prompts)]
    normal = root / "target" / "round_object" / "test" / "good"
    thresholds = root / "round_object.json"
    assert calibrate_main(["--class_name", "round_object", "--normal_dir", str(normal), "--output", str(thresholds), *backbone]) == 0
    assert json.loads(thresholds.read_text())["provenance"]["prompt_hash"] == provenance["prompt_hash"]

    line = root / "line" / "round_object"  # a folder of folders: one product per folder, as a camera line delivers them
    line.mkdir(parents=True)
    tested = sorted((root / "target" / "round_object" / "test").rglob("*.png"))
    for path in tested:
        shutil.copy(path, line / f"{path.parent.name}_{path.name}")
    assert main(["predict", "--config", config, "--model.prompt_checkpoint", str(prompts), "--thresholds", str(thresholds),
                 "--data.predict_sets", f"[{{name: line, format: images, root: {line.parent}}}]",
                 "--results_dir", str(root / "predict")]) == 0
    predictions = pd.read_csv(root / "predict" / "predictions.csv")
    assert len(predictions) == len(tested) == 5 and set(predictions["decision"]) <= {"anomalous", "normal"}
    scores = pd.read_csv(root / "test" / "test_predictions.csv")
    scores = {f"{Path(p).parent.name}_{Path(p).name}": score for p, score in zip(scores["image_path"], scores["pred_score"])}
    for path, score in zip(predictions["image_path"], predictions["pred_score"]):  # the same prompts, the same scores
        assert score == pytest.approx(scores[Path(path).name], abs=1e-5)

    capsys.readouterr()
    output = root / "hf.onnx"
    assert export_main(["--class_names", "round_object", "--output", str(output), *backbone]) == 0
    assert output.is_file() and float(capsys.readouterr().out.split("max |score diff| ")[1].split(",")[0]) < 1e-5
