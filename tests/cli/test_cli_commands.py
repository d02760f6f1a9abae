"""`tipsomaly fit / test / validate / predict / data summary`, run in-process on generated data and the tiny
TIPS checkpoint; every test reads back the files the command wrote."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from datamodules import read_samples
from lightning_modules.callbacks.overlay import CAPTION_HEIGHT
from lightning_modules.callbacks.prediction_writer import COLUMNS
from tests.cli.conftest import IMAGE_SIZE
from tipsomaly.cli import main


def tipsomaly(*args) -> None:
    assert main([str(arg) for arg in args]) == 0


@pytest.fixture(scope="module")
def fitted(workspace):
    """A fit with a non-default n_prompt, which `test --ckpt_path` must take from the checkpoint."""
    results = workspace / "fit"
    tipsomaly("fit", "--config", workspace / "tiny.yaml", "--model.n_prompt", 4, "--results_dir", results)
    return results


@pytest.fixture(scope="module")
def tested(workspace, fitted):
    results = workspace / "test_ckpt"
    tipsomaly(
        "test", "--config", workspace / "tiny.yaml", "--ckpt_path", fitted / "checkpoints" / "last.ckpt",
        "--results_dir", results, "--save_maps", "true", "--overlays_per_class", 2,
    )
    return results


def test_fit_writes_prompts_the_last_checkpoint_and_the_resolved_config(fitted):
    assert sorted(p.name for p in (fitted / "prompts").glob("*.pt")) == [
        "learnable_prompts_epoch1.pt", "learnable_prompts_epoch2.pt",
    ]
    assert (fitted / "checkpoints" / "last.ckpt").is_file()
    assert sorted(p.name for p in (fitted / "checkpoints").iterdir()) == ["last.ckpt"]  # one per fit, no copies
    config = yaml.safe_load((fitted / "config_fit.yaml").read_text())
    assert config["model"]["n_prompt"] == 4
    # one linked value: the saved config re-runs as it is (model.image_size there would be refused)
    assert config["data"]["image_size"] == IMAGE_SIZE and "image_size" not in config["model"]


def test_test_from_the_last_checkpoint_writes_results_predictions_maps_and_overlays(workspace, tested):
    from sklearn.metrics import roc_auc_score

    table = pd.read_csv(tested / "test_results.csv")
    assert list(table["class"]) == ["grid_texture", "round_object", "mean", "mean"]
    predictions = pd.read_csv(tested / "test_predictions.csv")
    for class_name, rows in predictions.groupby("class"):  # the table's image AUROC, from the per-image scores
        expected = 100 * roc_auc_score(rows["label"], rows["pred_score"])
        assert table.loc[table["class"] == class_name, "image_auroc"].item() == pytest.approx(expected, abs=1e-6)

    assert list(predictions.columns) == COLUMNS
    samples = read_samples("mvtec", workspace / "target")
    assert list(predictions["image_path"]) == list(samples["image_path"])  # samples-table order
    assert list(predictions["label"]) == list(samples["label"])
    assert (predictions["dataset"] == "target").all()

    for class_name, rows in predictions.groupby("class"):
        with np.load(tested / "maps" / "target" / f"{class_name}.npz") as archive:
            assert archive["maps"].dtype == np.float16
            assert archive["maps"].shape == (5, IMAGE_SIZE, IMAGE_SIZE)
            assert list(archive["image_paths"]) == list(rows["image_path"])
            assert 0 <= archive["maps"].min() and archive["maps"].max() <= 1
        overlays = sorted((tested / "overlays" / "target" / class_name).glob("*.png"))
        assert len(overlays) == 2  # --overlays_per_class 2, anomalous images first
        assert {p.stem for p in overlays} == {"hole_000", "scratch_000"}  # <defect>_<stem>, anomalous first
        # image | heatmap | contour, and the score written in a strip under them
        assert Image.open(overlays[0]).size == (3 * IMAGE_SIZE, IMAGE_SIZE + CAPTION_HEIGHT)

    config = yaml.safe_load((tested / "config_test.yaml").read_text())
    assert config["model"]["n_prompt"] == 4  # not on the command line: taken from the checkpoint


def test_model_arguments_given_by_the_user_beat_the_checkpoints(workspace, fitted, tested):
    # Lightning >= 2.5.5 alone would replace both with the checkpoint's "industrial" and "first"
    results = workspace / "test_overrides"
    tipsomaly(
        "test", "--config", workspace / "tiny.yaml", "--ckpt_path", fitted / "checkpoints" / "last.ckpt",
        "--model.fixed_prompts", "medical", "--model.image_token", "second", "--results_dir", results,
    )
    config = yaml.safe_load((results / "config_test.yaml").read_text())
    assert config["model"]["fixed_prompts"] == "medical" and config["model"]["image_token"] == "second"
    assert config["model"]["n_prompt"] == 4  # not given: from the checkpoint
    second = pd.read_csv(results / "test_predictions.csv")
    first = pd.read_csv(tested / "test_predictions.csv")
    np.testing.assert_allclose(first["pred_score"], first["score_first"], rtol=1e-6)
    np.testing.assert_allclose(second["pred_score"], second["score_second"], rtol=1e-6)  # the token asked for
    assert not np.allclose(second["pred_score"], first["pred_score"])


def test_test_from_a_prompt_file_alone_equals_the_lightning_checkpoint(workspace, fitted, tested):
    results = workspace / "test_prompt_file"
    tipsomaly(
        "test", "--config", workspace / "tiny.yaml", "--model.n_prompt", 4,
        "--model.prompt_checkpoint", fitted / "prompts" / "learnable_prompts_epoch2.pt", "--results_dir", results,
    )
    pd.testing.assert_frame_equal(
        pd.read_csv(results / "test_predictions.csv"), pd.read_csv(tested / "test_predictions.csv")
    )
    pd.testing.assert_frame_equal(pd.read_csv(results / "test_results.csv"), pd.read_csv(tested / "test_results.csv"))


def test_test_into_the_folder_of_its_fit_keeps_each_stages_own_config(workspace, fitted, capsys):
    fit_config = (fitted / "config_fit.yaml").read_text()
    tipsomaly(
        "test", "--config", workspace / "tiny.yaml", "--ckpt_path", fitted / "checkpoints" / "last.ckpt",
        "--model.sigma", 2.0, "--results_dir", fitted,
    )
    assert (fitted / "config_fit.yaml").read_text() == fit_config  # never written over by another stage
    fit, test = (yaml.safe_load((fitted / f"config_{stage}.yaml").read_text()) for stage in ("fit", "test"))
    assert fit["model"]["sigma"] == 4.0 and test["model"]["sigma"] == 2.0  # each the settings its stage ran with
    assert test["ckpt_path"] == str(fitted / "checkpoints" / "last.ckpt") and "ckpt_path" not in fit or fit["ckpt_path"] is None
    assert not (fitted / "config.yaml").exists()
    printed = capsys.readouterr().out
    assert "| target | grid_texture |" in printed  # the paper-style table
    assert f"test results are in {fitted}" in printed
    assert f"{fitted / 'maps'}" not in printed and f"{fitted / 'overlays'}" not in printed  # none written


def test_validate_writes_the_validation_table(workspace, fitted):
    results = workspace / "validate"
    tipsomaly(
        "validate", "--config", workspace / "tiny.yaml", "--model.n_prompt", 4,
        "--model.prompt_checkpoint", fitted / "prompts" / "learnable_prompts_epoch2.pt",
        "--data.val_sets", f"[{{name: target, format: mvtec, root: {workspace / 'target'}}}]", "--results_dir", results,
    )
    table = pd.read_csv(results / "val_results_epoch1.csv")
    assert list(table["class"]) == ["grid_texture", "round_object", "mean", "mean"]


def test_predict_scores_an_unlabelled_folder_of_class_folders(workspace, fitted):
    results = workspace / "predict"
    folder = workspace / "target" / "round_object" / "test"  # good/, hole/, scratch/, stain/: one class each
    tipsomaly(
        "predict", "--config", workspace / "tiny.yaml", "--model.n_prompt", 4,
        "--model.prompt_checkpoint", fitted / "prompts" / "learnable_prompts_epoch2.pt",
        "--data.predict_sets", f"[{{name: line, format: images, root: {folder}}}]",
        "--results_dir", results, "--overlays_per_class", 1,
    )
    predictions = pd.read_csv(results / "predictions.csv")
    assert len(predictions) == 5 and (predictions["label"] == -1).all()
    assert list(predictions["class"]) == ["good", "good", "hole", "scratch", "stain"]
    assert predictions["pred_score"].notna().all()
    for class_name in ("good", "hole", "scratch", "stain"):
        (overlay,) = (results / "overlays" / "line" / class_name).glob("*.png")
        assert Image.open(overlay).size == (2 * IMAGE_SIZE, IMAGE_SIZE + CAPTION_HEIGHT)  # no ground truth: image | heatmap


def test_print_config_shows_one_linked_image_size(workspace, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["test", "--config", str(workspace / "tiny.yaml"), "--data.image_size", "42", "--print_config"])
    assert exit_info.value.code == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["data"]["image_size"] == 42 and "image_size" not in config["model"]  # set once, for both


def test_data_summary_prints_the_per_class_table(workspace, capsys):
    assert main(["data", "summary", "--format", "mvtec", "--root", str(workspace / "target"), "--check_files"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"grid_texture\s+2\s+3\s+3", printed)  # normal, anomalous, masks
    assert re.search(r"total\s+4\s+6\s+6", printed)


def test_help_answers_fast_without_importing_lightning():
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tipsomaly.cli", "--help"], capture_output=True, text=True, check=True)
    assert time.perf_counter() - started < 2.0
    assert "fit" in done.stdout and "predict" in done.stdout and "data" in done.stdout


def test_every_extra_command_names_a_function_that_exists():
    import importlib

    from tipsomaly.cli import EXTRA_COMMANDS

    for name, (module, function, _) in EXTRA_COMMANDS.items():
        assert callable(getattr(importlib.import_module(module), function)), name


def test_test_from_the_reference_repositorys_prompt_file(workspace, fitted, tested):
    import torch

    from lightning_modules.tipsomaly import load_prompt_checkpoint

    ours = load_prompt_checkpoint(fitted / "prompts" / "learnable_prompts_epoch2.pt")
    reference = workspace / "learnable_params_2.pth"  # what the reference's training saves: [normal, abnormal]
    torch.save(torch.nn.ParameterList([torch.nn.Parameter(ours.normal), torch.nn.Parameter(ours.abnormal)]), reference)
    results = workspace / "test_reference_file"
    tipsomaly(
        "test", "--config", workspace / "tiny.yaml", "--model.n_prompt", 4,
        "--model.prompt_checkpoint", reference, "--results_dir", results,
    )
    pd.testing.assert_frame_equal(pd.read_csv(results / "test_results.csv"), pd.read_csv(tested / "test_results.csv"))


def test_predict_with_calibrated_thresholds_adds_the_decision(workspace, fitted, capsys):
    from tests.deploy.test_calibration_commands import _backbone_args
    from tipsomaly.commands.calibrate import calibrate_main

    prompts = fitted / "prompts" / "learnable_prompts_epoch2.pt"
    normal = workspace / "target" / "round_object" / "test" / "good"
    assert calibrate_main(["--class_name", "round_object", "--normal_dir", str(normal), "--prompt_file", str(prompts),
                           "--image_size", str(IMAGE_SIZE), *_backbone_args()]) == 0
    thresholds_file = fitted / "prompts" / "thresholds_round_object.json"
    folder = workspace / "target" / "round_object" / "test"
    common = ["predict", "--config", workspace / "tiny.yaml", "--model.n_prompt", 4, "--model.prompt_checkpoint", prompts,
              "--data.predict_sets", f"[{{name: line, format: images, root: {folder}, classes: null}}]"]
    # one product per thresholds file: the class folders good/, hole/, ... are other "classes", so refused up front
    assert main([*map(str, common), "--results_dir", str(workspace / "refused"), "--thresholds", str(thresholds_file)]) == 2
    assert "thresholds are for class 'round_object' but the images to predict include" in capsys.readouterr().err
    single = workspace / "round_object_only"
    (single / "round_object").mkdir(parents=True)
    for image in folder.rglob("*.png"):
        (single / "round_object" / f"{image.parent.name}_{image.name}").write_bytes(image.read_bytes())
    common[-1] = f"[{{name: line, format: images, root: {single}}}]"
    tipsomaly(*common, "--results_dir", workspace / "decided", "--thresholds", thresholds_file)
    predictions = pd.read_csv(workspace / "decided" / "predictions.csv")
    # the deployment Detector, another code path over the same prompts and thresholds, decides the same
    from lightning_modules.deploy import Detector

    from tests.conftest import tiny_files

    detector = Detector.load(prompts, thresholds=thresholds_file, backbone=tiny_files("mlp"), image_size=IMAGE_SIZE)
    detections = detector(list(predictions["image_path"]))
    assert list(predictions["decision"]) == ["anomalous" if d.decision else "normal" for d in detections]
    assert set(predictions["class"]) == {"round_object"}
    # overlays: the images judged anomalous first, then the highest scores
    ranked = predictions.assign(flag=predictions["decision"] != "anomalous").sort_values(["flag", "pred_score"], ascending=[True, False])
    expected = {f"round_object_{Path(p).stem}" for p in ranked["image_path"][:4]}
    assert {p.stem for p in (workspace / "decided" / "overlays" / "line" / "round_object").glob("*.png")} == expected
    # thresholds of another scoring are refused before any image is scored
    assert main([*map(str, common), "--results_dir", str(workspace / "other"), "--thresholds", str(thresholds_file),
                 "--model.sigma", "1.0"]) == 2
    assert "scoring.sigma: 4.0 there, 1.0 here" in capsys.readouterr().err  # helper B: compare_provenance wording


@pytest.mark.parametrize(("flags", "expected"), [
    (["--model.n_prompt", "2"], "--model.n_prompt 2 differs from the checkpoint's n_prompt=4"),
    (["--model.prompt_method", "none"], "--model.prompt_method none uses no learned prompts, but --ckpt_path"),
])
def test_model_flags_that_cannot_load_the_checkpoints_prompts_are_one_line(workspace, fitted, capsys, flags, expected):
    status = main(["test", "--config", str(workspace / "tiny.yaml"), "--ckpt_path", str(fitted / "checkpoints" / "last.ckpt"),
                   *flags, "--results_dir", str(workspace / "conflict")])
    assert status == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert expected in line and not (workspace / "conflict").exists()


def test_predict_overlays_keep_a_wide_images_aspect_and_carry_its_score(workspace, fitted):
    import numpy as np

    folder = workspace / "wide" / "belt"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        Image.fromarray(rng.integers(0, 255, (30, 60, 3), dtype=np.uint8)).save(folder / f"{name}.png")  # 2:1
    results = workspace / "wide_predict"
    tipsomaly(
        "predict", "--config", workspace / "tiny.yaml", "--model.n_prompt", 4,
        "--model.prompt_checkpoint", fitted / "prompts" / "learnable_prompts_epoch2.pt",
        "--data.predict_sets", f"[{{name: wide, format: images, root: {folder.parent}}}]", "--results_dir", results,
    )
    overlays = sorted((results / "overlays" / "wide" / "belt").glob("*.png"))
    assert [p.name for p in overlays] == ["belt_a.png", "belt_b.png"]
    for overlay in overlays:  # image | heatmap, each 2 x 28 wide by 28 high, the score strip under them
        assert Image.open(overlay).size == (2 * 2 * IMAGE_SIZE, IMAGE_SIZE + CAPTION_HEIGHT)


def test_a_config_file_that_repeats_a_default_still_beats_the_checkpoint(workspace, fitted, tmp_path):
    # the fit stored image_token "first" (the default); a checkpoint fitted with "second" must lose to a config
    # file saying "first", although that equals the default
    import torch

    checkpoint = torch.load(fitted / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    checkpoint["hyper_parameters"]["image_token"] = "second"
    edited = tmp_path / "second.ckpt"
    torch.save(checkpoint, edited)
    mine = tmp_path / "first.yaml"
    mine.write_text("model:\n  image_token: first\n")
    results = tmp_path / "run"
    tipsomaly("test", "--config", workspace / "tiny.yaml", "--config", mine, "--ckpt_path", edited, "--results_dir", results)
    assert yaml.safe_load((results / "config_test.yaml").read_text())["model"]["image_token"] == "first"
    tipsomaly("test", "--config", workspace / "tiny.yaml", "--ckpt_path", edited, "--results_dir", tmp_path / "run2")
    assert yaml.safe_load((tmp_path / "run2" / "config_test.yaml").read_text())["model"]["image_token"] == "second"
