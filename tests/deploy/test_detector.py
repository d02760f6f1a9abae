"""Detector: any image kind and size in, maps at the image's own resolution out; documented conversions; bad input refused."""

import numpy as np
import pytest
import torch
from PIL import Image

from datamodules.resize import resize_image
from lightning_modules.deploy import Detector, ImageInputError, ThresholdsError, calibrate_normal, save_thresholds
from lightning_modules.deploy.detector import Detection
from tests.conftest import TIPS_DATA
from tests.deploy.conftest import TINY_SIZE, write_prompt_file

FIXTURE = TIPS_DATA / "images" / "img1.png"  # 640 x 600 RGB


def _rgb(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_a_path_gives_the_models_score_and_a_map_at_the_files_resolution(detector):
    result = detector(str(FIXTURE))
    image = Image.open(FIXTURE).convert("RGB")
    with torch.no_grad():
        expected = detector.model(resize_image(image, TINY_SIZE)[None], ["bottle"])
    assert isinstance(result, Detection) and result.image_path == str(FIXTURE)
    assert result.score == pytest.approx(float(expected.pred_score[0]), abs=1e-6)
    assert result.anomaly_map.shape == (600, 640)
    assert result.decision is None and result.anomalous_pixels is None  # no thresholds given
    assert 0 <= result.anomaly_map.min() and result.anomaly_map.max() <= 1
    # the map is the model's S x S map resized: their extremes agree closely
    assert result.anomaly_map.max() == pytest.approx(float(expected.anomaly_map.max()), abs=0.02)


@pytest.mark.parametrize("height, width", [(33, 47), (101, 29), (517, 519)])
def test_maps_come_back_at_odd_input_sizes_for_every_input_kind(detector, height, width):
    rgb = _rgb(height, width)
    inputs = [rgb, Image.fromarray(rgb), torch.from_numpy(rgb).permute(2, 0, 1), torch.from_numpy(rgb).permute(2, 0, 1).float() / 255]
    results = detector(inputs, overlay=True)
    assert [r.anomaly_map.shape for r in results] == [(height, width)] * 4
    assert [r.overlay.size for r in results] == [(width, height)] * 4
    # uint8 array, PIL image and uint8 tensor are the same pixels through the same PIL resize
    assert results[0].score == results[1].score == results[2].score
    # the float tensor goes through torch's antialiased bilinear instead: close, not identical
    assert results[3].score == pytest.approx(results[0].score, abs=0.05)


def test_a_batch_of_paths_is_scored_in_chunks_and_keeps_its_order(detector, tmp_path):
    paths = []
    for index, size in enumerate([(40, 60), (70, 30), (45, 45)]):
        paths.append(tmp_path / f"{index}.png")
        Image.fromarray(_rgb(*size, seed=index)).save(paths[-1])
    detector.batch_size = 2
    results = detector([str(p) for p in paths])
    singles = [detector(str(p)) for p in paths]
    assert [r.anomaly_map.shape for r in results] == [(40, 60), (70, 30), (45, 45)]
    assert [r.score for r in results] == pytest.approx([s.score for s in singles], abs=1e-6)


def test_grayscale_is_replicated_and_rgba_loses_its_alpha_as_documented(detector):
    grey = np.random.default_rng(1).integers(0, 256, (50, 60), dtype=np.uint8)
    as_rgb = detector(np.repeat(grey[..., None], 3, axis=2))
    assert detector(grey).score == as_rgb.score
    assert detector(Image.fromarray(grey, mode="L")).score == as_rgb.score
    assert detector(torch.from_numpy(grey).float()[None] / 255).score == pytest.approx(as_rgb.score, abs=0.05)
    rgb = _rgb(50, 60)
    rgba = np.concatenate([rgb, np.full((50, 60, 1), 7, np.uint8)], axis=2)  # nearly transparent: still the RGB pixels
    assert detector(rgba).score == detector(rgb).score
    assert detector(Image.fromarray(rgba, mode="RGBA")).score == detector(rgb).score


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((20, 20, 3), np.float32), "dtype float32"),
        (torch.full((3, 20, 20), 255.0), r"divide 8-bit values by 255"),
        (np.zeros((3, 20, 20), np.uint8), "channels last"),
        ("no/such/file.png", "does not exist"),
        (12, "cannot read a int"),
    ],
)
def test_bad_images_are_refused_with_the_fix(detector, bad, message):
    with pytest.raises(ImageInputError, match=message):
        detector(bad)


def test_an_undecodable_file_is_refused_naming_it(detector, tmp_path):
    broken = tmp_path / "part.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(ImageInputError, match="part.png' cannot be decoded"):
        detector(str(broken))


def test_thresholds_give_the_decision_and_the_flagged_pixels(detector, tmp_path):
    normals = [_rgb(48, 48, seed=s) for s in range(12)]
    thresholds = calibrate_normal(detector, normals, quantile=0.9)
    detector.set_thresholds(thresholds)
    result = detector(_rgb(64, 80, seed=99))
    assert result.decision == (result.score >= thresholds.image_threshold)
    assert result.anomalous_pixels.shape == (64, 80)
    assert np.array_equal(result.anomalous_pixels, result.anomaly_map >= thresholds.map_threshold)
    assert not any(detector(image).decision for image in normals[:10])  # calibration images at or below the rank stay normal


def test_thresholds_of_another_image_size_prompt_file_or_class_are_refused(detector, tiny_tips, tmp_path):
    thresholds = calibrate_normal(detector, [_rgb(48, 48, seed=s) for s in range(5)], quantile=0.5)
    path = save_thresholds(tmp_path / "thresholds_bottle.json", thresholds)
    prompt = tmp_path / "prompts" / "learnable_prompts_epoch1.pt"
    assert Detector.load(prompt, thresholds=path, backbone=tiny_tips("mlp")).thresholds == thresholds  # class from the file
    with pytest.raises(ThresholdsError, match=r"image_size: \[56, 56\] there, \[112, 112\] here"):
        Detector.load(prompt, thresholds=path, backbone=tiny_tips("mlp"), image_size=112)
    other_prompts = write_prompt_file(tmp_path / "other.pt", seed=1)
    with pytest.raises(ThresholdsError, match="prompt_hash: 'learned prompts"):
        Detector.load(other_prompts, thresholds=path, backbone=tiny_tips("mlp"))
    with pytest.raises(ThresholdsError, match="class 'bottle' but the detector inspects 'cable'"):
        Detector.load(prompt, thresholds=path, backbone=tiny_tips("mlp"), class_name="cable")


def test_thresholds_from_another_backbone_are_refused(tiny_tips, tmp_path):
    fixed_only = Detector.load(None, backbone=tiny_tips("mlp"), class_name="bottle", image_size=TINY_SIZE)
    path = save_thresholds(tmp_path / "t.json", calibrate_normal(fixed_only, [_rgb(48, 48, seed=s) for s in range(5)], quantile=0.5))
    with pytest.raises(ThresholdsError, match=r"backbone: 'tips_tiny_mlp \([0-9a-f]{12}\)' there, 'tips_tiny_swiglu \([0-9a-f]{12}\)' here"):
        Detector.load(None, thresholds=path, backbone=tiny_tips("swiglu"), image_size=TINY_SIZE)


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.full((3, 20, 20), float("nan")), "NaN or infinite"),
        (torch.full((3, 20, 20), 2.0), r"expected \[0, 1\]"),
    ],
)
def test_nan_and_out_of_range_tensors_are_refused_not_decided(detector, bad, message):
    with pytest.raises(ImageInputError, match=message):
        detector(bad)


def test_a_nan_score_is_never_a_decision(detector, monkeypatch):
    """Were the model ever to give NaN (damaged weights), `nan >= threshold` would read as "normal": refused instead."""
    thresholds = calibrate_normal(detector, [_rgb(48, 48, seed=s) for s in range(5)], quantile=0.5)
    detector.set_thresholds(thresholds)
    monkeypatch.setattr(detector.model.scorer, "rule", float("nan"))  # a NaN temperature: every score NaN
    with pytest.raises(ValueError, match=r"NaN or infinite scores for \['image 0'\]; no decision is made"):
        detector(_rgb(48, 48))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"image_size": 0}, r"image_size=0; expected a positive multiple of 14"),
        ({"image_size": 50}, r"image_size=50; expected a positive multiple of 14"),
        ({"batch_size": 0}, r"batch_size=0; expected an integer >= 1"),
        ({"sigmaa": 1.0}, r"unknown setting\(s\) \['sigmaa'\]"),
    ],
)
def test_bad_detector_options_are_refused_in_one_line(prompt_file, tiny_tips, options, message):
    with pytest.raises(ValueError, match=message):
        Detector.load(prompt_file, backbone=tiny_tips("mlp"), class_name="bottle", **options)


def test_a_prompt_file_with_non_finite_values_is_refused_naming_it(tiny_tips, tmp_path):
    from lightning_modules.tipsomaly import PromptCheckpoint, save_prompt_checkpoint

    save_prompt_checkpoint(tmp_path / "flipped.pt", PromptCheckpoint(torch.zeros(8, 64), torch.zeros(8, 64), {"prompt_method": "concat"}))
    payload = torch.load(tmp_path / "flipped.pt", weights_only=True)
    payload["normal"][3, 5] = float("nan")  # what a few flipped bytes of a float32 can give
    torch.save(payload, tmp_path / "flipped.pt")
    with pytest.raises(ValueError, match=r"flipped.pt: 1 of 512 'normal' prompt values are NaN or infinite"):
        Detector.load(tmp_path / "flipped.pt", backbone=tiny_tips("mlp"), class_name="bottle")
