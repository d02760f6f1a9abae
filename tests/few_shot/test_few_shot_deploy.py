"""Few-shot mode when deploying: a Detector with a reference folder, calibration that refuses reference images,
thresholds whose provenance names the references, and an ONNX export carrying the memory bank."""

import shutil

import numpy as np
import pytest
import torch

from datamodules import make_synthetic_dataset
from lightning_modules.deploy import Detector, calibrate_normal, load_thresholds
from lightning_modules.deploy.thresholds import ThresholdsError
from tests.conftest import tiny_files
from tests.deploy.conftest import TINY_SIZE, write_prompt_file
from tipsomaly.commands.calibrate import calibrate_main


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    root = make_synthetic_dataset(tmp_path_factory.mktemp("data"), classes=("round_object",), n_normal=8, n_anomalous=3, image_size=48, seed=3)
    references = root / "references"
    references.mkdir()
    for path in sorted((root / "round_object" / "train" / "good").glob("*.png"))[:3]:
        shutil.copy(path, references / path.name)
    return root / "round_object", references


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    return write_prompt_file(tmp_path_factory.mktemp("prompts") / "learnable_prompts_epoch1.pt")


def _detector(prompts, tiny_tips, references=None, **options):
    return Detector.load(prompts, backbone=tiny_tips("mlp"), class_name="round_object", reference_dir=references, **options)


def test_a_reference_image_scores_zero_few_shot_distance_and_others_add_their_maximum(prompts, tiny_tips, product):
    folder, references = product
    zero, few_only = _detector(prompts, tiny_tips), _detector(prompts, tiny_tips, references, few_shot_only=True)
    combined = _detector(prompts, tiny_tips, references, few_shot_weight=0.5)
    reference = str(sorted(references.glob("*.png"))[0])
    other = str(sorted((folder / "test" / "hole").glob("*.png"))[0])
    assert few_only(reference).score <= 1e-6 and few_only(reference).anomaly_map.max() <= 1e-6
    assert few_only(other).score > 1e-3
    expected = zero(other).score + few_only(other).score  # image score: zero-shot + max of the few-shot map
    assert combined(other).score == pytest.approx(expected, abs=1e-5)
    assert combined.provenance["few_shot"]["k"] == 3 and zero.provenance["few_shot"] is None


def test_thresholds_remember_the_references_and_a_detector_without_them_refuses_them(prompts, tiny_tips, product):
    folder, references = product
    few = _detector(prompts, tiny_tips, references)
    normals = [str(p) for p in sorted((folder / "test" / "good").glob("*.png"))]
    thresholds = calibrate_normal(few, normals, quantile=0.8)
    assert thresholds.provenance["few_shot"]["references_sha256"] == few.provenance["few_shot"]["references_sha256"]
    few.set_thresholds(thresholds)
    with pytest.raises(ThresholdsError, match="few_shot"):
        _detector(prompts, tiny_tips).set_thresholds(thresholds)
    with pytest.raises(ThresholdsError, match="few_shot"):
        few.set_thresholds(calibrate_normal(_detector(prompts, tiny_tips), normals, quantile=0.8))


def _backbone_args():
    files = tiny_files("mlp")
    return ["--backbone.vision_checkpoint", files["vision_checkpoint"], "--backbone.text_checkpoint", files["text_checkpoint"],
            "--backbone.tokenizer", files["tokenizer"], "--backbone.vision_num_heads", "4", "--backbone.text_num_heads", "4"]


def test_calibrate_refuses_normal_images_that_are_also_references(prompts, product, tmp_path, capsys):
    folder, references = product
    status = calibrate_main(["--class_name", "round_object", "--normal_dir", str(folder / "train" / "good"), "--reference_dir",
                             str(references), "--prompt_file", prompts, "--output", str(tmp_path / "t.json"), *_backbone_args()])
    error = capsys.readouterr().err
    assert status == 2 and error.count("\n") == 1
    assert "3 normal image(s) are also few-shot reference images" in error and "bias the thresholds low" in error
    assert calibrate_main(["--class_name", "round_object", "--normal_dir", str(folder / "test" / "good"), "--reference_dir",
                           str(references), "--prompt_file", prompts, "--output", str(tmp_path / "t.json"), *_backbone_args()]) == 0
    assert load_thresholds(tmp_path / "t.json").provenance["few_shot"]["k"] == 3


def test_the_onnx_export_carries_the_memory_bank_and_matches_pytorch(prompts, tiny_tips, product, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from lightning_modules.deploy.onnx_export import OnnxDetector, export_onnx

    folder, references = product
    detector = _detector(prompts, tiny_tips, references)
    path = export_onnx(detector.model, tmp_path / "fs.onnx", ["round_object"], TINY_SIZE, few_shot=detector.few_shot)
    onnx = OnnxDetector(path)
    images = torch.rand(3, 3, TINY_SIZE, TINY_SIZE, generator=torch.Generator().manual_seed(0))
    score, maps = onnx(images.numpy(), "round_object")
    expected = detector.score_inputs([type("I", (), {"image": image, "path": None})() for image in images])
    np.testing.assert_allclose(score, expected[0].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(maps, expected[1].numpy(), atol=1e-5, rtol=0)
    zero = _detector(prompts, tiny_tips).score_inputs([type("I", (), {"image": image, "path": None})() for image in images])
    assert np.abs(score - zero[0].numpy()).min() > 1e-4  # the bank is in the graph, not only the zero-shot part
    assert onnx.info["provenance"]["few_shot"] == detector.provenance["few_shot"] and onnx.info["provenance"]["few_shot"]["k"] == 3
    with pytest.raises(ValueError, match=r"no few-shot references for class\(es\) \['bottle'\]"):
        export_onnx(detector.model, tmp_path / "x.onnx", ["round_object", "bottle"], TINY_SIZE, few_shot=detector.few_shot)
