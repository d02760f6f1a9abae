"""Calibration on generated normal images, and the `calibrate` / `export` commands end to end."""

import json
import re

import numpy as np
import pytest

from datamodules import make_synthetic_dataset
from lightning_modules.deploy import calibrate_labelled, calibrate_normal, load_thresholds
from tests.conftest import tiny_files
from tipsomaly.commands.calibrate import calibrate_main
from tipsomaly.commands.export import export_main


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    """60 normal training images, 60 normal and 30 anomalous test images of one generated product."""
    root = make_synthetic_dataset(tmp_path_factory.mktemp("data"), classes=("round_object",), n_normal=60, n_anomalous=30, image_size=48, seed=3)
    return root / "round_object"


def test_thresholds_from_generated_normals_hold_their_false_positive_rate_on_held_out_normals(detector, product):
    calibration = sorted((product / "train" / "good").glob("*.png"))[:39]
    held_out = sorted((product / "test" / "good").glob("*.png"))
    thresholds = calibrate_normal(detector, [str(p) for p in calibration], quantile=0.8)
    assert thresholds.n_images == 39 and thresholds.expected_fpr == pytest.approx(0.2)  # k = ceil(40 * 0.8) = 32
    detector.set_thresholds(thresholds)
    assert sum(r.decision for r in detector([str(p) for p in calibration])) == 39 - 32
    held_out_fpr = np.mean([r.decision for r in detector([str(p) for p in held_out])])
    # 60 held-out images: binomial sd 0.05 around the stated 0.2
    assert held_out_fpr == pytest.approx(0.2, abs=0.15)


def test_labelled_calibration_reports_f1_max_and_the_normals_false_positive_rate(detector, product):
    normals = sorted((product / "test" / "good").glob("*.png"))[:20]
    anomalous = sorted(p for p in (product / "test").rglob("*.png") if p.parent.name != "good")[:20]
    thresholds = calibrate_labelled(detector, [str(p) for p in normals + anomalous], [0] * 20 + [1] * 20)
    detector.set_thresholds(thresholds)
    decisions = [r.decision for r in detector([str(p) for p in normals + anomalous])]
    tp = sum(decisions[20:])
    assert thresholds.method == "f1_max" and (thresholds.n_normal, thresholds.n_anomalous) == (20, 20)
    assert thresholds.fpr_on_normals == pytest.approx(sum(decisions[:20]) / 20)
    assert thresholds.f1_max == pytest.approx(2 * tp / (sum(decisions) + 20))


def _backbone_args(kind="mlp"):
    files = tiny_files(kind)
    return [
        "--backbone.vision_checkpoint", files["vision_checkpoint"], "--backbone.text_checkpoint", files["text_checkpoint"],
        "--backbone.tokenizer", files["tokenizer"], "--backbone.vision_num_heads", "4", "--backbone.text_num_heads", "4",
    ]


def test_calibrate_command_writes_thresholds_beside_the_prompts(prompt_file, product, capsys):
    status = calibrate_main(["--class_name", "round_object", "--normal_dir", str(product / "train" / "good"), "--prompt_file", prompt_file,
                             "--target_fpr", "0.05", *_backbone_args()])
    assert status == 0
    written = load_thresholds(prompt_file.replace("learnable_prompts_epoch1.pt", "thresholds_round_object.json"))
    # k = ceil(61 * 0.95) = 58 of 60: expected rate 1 - 58 / 61
    assert written.n_images == 60 and written.quantile == pytest.approx(0.95) and written.provenance["image_size"] == [56, 56]
    assert "expected false-positive rate on normal images <= 0.04918 (asked 0.05)" in capsys.readouterr().out


def test_calibrate_command_refuses_an_empty_folder_in_one_line(prompt_file, tmp_path, capsys):
    assert calibrate_main(["--class_name", "x", "--normal_dir", str(tmp_path), "--prompt_file", prompt_file, *_backbone_args()]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "holds no images" in error


def test_export_command_writes_onnx_and_checks_it_against_pytorch(prompt_file, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    output = tmp_path / "model.onnx"
    assert export_main(["--class_names", "bottle", "cable", "--output", str(output), "--prompt_file", prompt_file, *_backbone_args()]) == 0
    out = capsys.readouterr().out
    assert output.is_file() and "max |score diff|" in out
    score_diff = float(out.split("max |score diff| ")[1].split(",")[0])
    assert score_diff < 1e-5
    from lightning_modules.deploy.onnx_export import OnnxDetector

    info = OnnxDetector(output).info
    from lightning_modules.tipsomaly.prompt_checkpoint import load_prompt_checkpoint
    from lightning_modules.tipsomaly.provenance import tensors_sha256

    prompts = load_prompt_checkpoint(prompt_file)
    assert info["class_names"] == ["bottle", "cable"] and info["provenance"]["prompt_hash"] == tensors_sha256([prompts.normal, prompts.abnormal])
    assert json.dumps(info)  # plain values only


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--image_size", "0"], "--image_size 0: expected a positive multiple of the patch size 14"),
        (["--quantile", "1.5"], r"--quantile 1.5: the quantile must lie in \(0, 1\)"),
        (["--target_fpr", "0"], r"--target_fpr 0.0: the quantile must lie in \(0, 1\)"),
        (["--device", "cuda:7"] if not __import__("torch").cuda.is_available() else ["--device", "nonsense"], "--device"),
        (["--config", "no/such/config_fit.yaml"], "--config 'no/such/config_fit.yaml' does not exist"),
    ],
)
def test_calibrate_refuses_bad_options_in_one_line_before_scoring(prompt_file, product, capsys, monkeypatch, extra, message):
    from lightning_modules.deploy import calibration

    def never(*args, **kwargs):
        raise AssertionError("no image may be scored before the options are checked")

    monkeypatch.setattr(calibration, "_scores_and_maxima", never)
    status = calibrate_main(["--class_name", "round_object", "--normal_dir", str(product / "train" / "good"), "--prompt_file", prompt_file,
                             "--output", str(product.parent / "never.json"), *extra, *_backbone_args()])
    error = capsys.readouterr().err
    assert status == 2 and error.count("\n") == 1 and re.search(message, error), error


def test_calibrate_refuses_to_replace_a_thresholds_file_without_overwrite(prompt_file, product, tmp_path, capsys):
    output = tmp_path / "thresholds.json"
    args = ["--class_name", "round_object", "--normal_dir", str(product / "train" / "good"), "--prompt_file", prompt_file,
            "--output", str(output), *_backbone_args()]
    assert calibrate_main(args) == 0
    first = output.read_text()
    assert calibrate_main([*args, "--quantile", "0.5"]) == 2
    assert "already exists; pass --overwrite to replace it" in capsys.readouterr().err and output.read_text() == first
    assert calibrate_main([*args, "--quantile", "0.5", "--overwrite"]) == 0
    assert load_thresholds(output).quantile == 0.5 and output.stat().st_mode & 0o777 == 0o644
