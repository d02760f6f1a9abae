"""Threshold rules on plain scores, the JSON file, and refusing thresholds from another model."""

import json
import math

import pytest
import torch

from lightning_modules.deploy.thresholds import (
    ThresholdsError,
    check_provenance,
    conformal_rank,
    f1_max_threshold,
    from_normal_scores,
    load_thresholds,
    quantile_threshold,
    save_thresholds,
)

# the shape of `model.provenance()` (tests/tipsomaly/test_provenance.py computes real ones)
PROVENANCE = {
    "backbone": {"kind": "tips", "label": "tips_v2_oss_l14", "source": None, "revision": None, "fingerprint": "f0" * 32},
    "image_size": [518, 518], "resize": "reference", "prompt_hash": "ab" * 32, "prompt_method": "concat", "n_prompt": 8,
    "n_deep": 0, "fixed_prompts": "industrial",
    "scoring": {"image_token": "first", "local_to_global": True, "sigma": 4.0, "decoupled": True},
    "few_shot": None, "tipsomaly_version": "0.1.0",
}


def test_quantile_threshold_gives_the_target_false_positive_rate_on_held_out_normals():
    generator = torch.Generator().manual_seed(0)
    calibration, held_out = torch.randn(2000, generator=generator), torch.randn(200_000, generator=generator)
    threshold, expected = quantile_threshold(calibration, quantile=0.95)
    fpr = float((held_out >= threshold).double().mean())
    assert expected == pytest.approx(1 - math.ceil(2001 * 0.95) / 2001)
    assert fpr == pytest.approx(0.05, abs=0.01)  # binomial spread of a 2000-image calibration: sd 0.005


def test_calibration_scores_up_to_the_rank_stay_normal_and_the_rest_are_flagged():
    scores = torch.arange(1.0, 40.0)  # 39 normal images
    threshold, expected = quantile_threshold(scores, quantile=0.9)  # k = ceil(40 * 0.9) = 36
    assert conformal_rank(39, 0.9) == 36
    assert threshold == float(torch.nextafter(torch.tensor(36.0), torch.tensor(40.0)))  # the next float32 above 36
    assert int((scores >= threshold).sum()) == 3 and int((scores.double() >= threshold).sum()) == 3
    assert expected == pytest.approx(0.1)


def test_too_few_images_for_the_quantile_fall_back_to_the_maximum_and_say_the_achievable_rate():
    scores = torch.tensor([0.2, 0.9, 0.5])
    threshold, expected = quantile_threshold(scores, quantile=0.99)
    assert threshold == float(torch.nextafter(scores[1], torch.tensor(1.0)))
    assert not (scores >= threshold).any()
    assert expected == pytest.approx(0.25)  # 1 / (n + 1), not the asked 0.01


def test_f1_max_threshold_and_the_false_positive_rate_of_the_normals_at_it():
    scores = torch.tensor([0.1, 0.2, 0.35, 0.4, 0.6, 0.7, 0.8])
    labels = torch.tensor([0, 0, 1, 0, 1, 1, 1])
    threshold, f1, fpr = f1_max_threshold(scores, labels)
    # brute force over every candidate threshold, decision score >= t
    best = max((2 * int(((scores >= t) & (labels == 1)).sum()) / (int((scores >= t).sum()) + 4), float(t)) for t in scores)
    assert (f1, threshold) == (pytest.approx(best[0]), pytest.approx(best[1]))
    assert threshold == pytest.approx(0.35) and f1 == pytest.approx(8 / 9)
    assert fpr == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    "scores, labels, message",
    [([0.1, 0.2], [0, 0], "needs normal and anomalous"), ([0.1, 0.2], [0, 2], "labels must be 0"), ([0.1, float("nan")], [0, 1], "NaN")],
)
def test_bad_labelled_sets_are_refused(scores, labels, message):
    with pytest.raises(ThresholdsError, match=message):
        f1_max_threshold(scores, labels)


def test_quantile_outside_zero_one_is_refused_with_the_fix():
    with pytest.raises(ThresholdsError, match="quantile = 1 - f"):
        quantile_threshold([0.1, 0.2], 5.0)


def test_thresholds_file_is_readable_json_without_weights_and_round_trips(tmp_path):
    thresholds = from_normal_scores("bottle", torch.rand(30), torch.rand(30), PROVENANCE, quantile=0.9)
    path = save_thresholds(tmp_path / "thresholds_bottle.json", thresholds)
    content = json.loads(path.read_text())
    assert content["format"] == "tipsomaly.thresholds" and content["n_images"] == 30 and content["class_name"] == "bottle"
    assert content["provenance"]["backbone"]["label"] == "tips_v2_oss_l14" and content["provenance"]["image_size"] == [518, 518]
    assert path.stat().st_size < 2000
    assert load_thresholds(path) == thresholds


def test_a_file_that_is_not_a_thresholds_file_is_refused(tmp_path):
    (tmp_path / "x.json").write_text('{"image_threshold": 1}')
    with pytest.raises(ThresholdsError, match="not a tipsomaly thresholds file"):
        load_thresholds(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("not json")
    with pytest.raises(ThresholdsError, match="not JSON"):
        load_thresholds(tmp_path / "y.json")


def test_a_hand_edited_boolean_threshold_is_refused(tmp_path):
    path = save_thresholds(tmp_path / "t.json", from_normal_scores("bottle", torch.rand(10), torch.rand(10), PROVENANCE, quantile=0.9))
    content = json.loads(path.read_text())
    content["image_threshold"] = True  # json reads it as a bool, which Python would compare as 1.0
    path.write_text(json.dumps(content))
    with pytest.raises(ThresholdsError, match="image_threshold is True, expected a finite number"):
        load_thresholds(path)


def test_thresholds_files_are_written_whole_with_mode_0644(tmp_path, monkeypatch):
    path = save_thresholds(tmp_path / "t.json", from_normal_scores("bottle", torch.rand(10), torch.rand(10), PROVENANCE, quantile=0.9))
    assert path.stat().st_mode & 0o777 == 0o644
    before = path.read_text()

    def crash(self, text, encoding=None):
        raise OSError("disk full")

    monkeypatch.setattr(type(path), "write_text", crash)
    with pytest.raises(OSError, match="disk full"):
        save_thresholds(path, from_normal_scores("cable", torch.rand(10), torch.rand(10), PROVENANCE, quantile=0.9))
    monkeypatch.undo()
    assert path.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["t.json"]


def test_thresholds_calibrated_by_a_detector_carry_its_provenance_and_other_models_are_refused(detector, tiny_tips, tmp_path):
    """The provenance is the calibrating model's own (`model.provenance()`), and every model that scores
    differently is refused by the same rule, listing what differs."""
    from lightning_modules.deploy import Detector, calibrate_normal
    from tests.deploy.conftest import write_prompt_file

    images = [torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(s)) for s in range(4)]
    thresholds = calibrate_normal(detector, images, quantile=0.5)
    assert thresholds.provenance == detector.model.provenance()
    assert thresholds.provenance["prompt_hash"] is not None and thresholds.provenance["image_size"] == [56, 56]
    check_provenance(thresholds, detector.provenance, "t.json")  # its own model
    prompt_file = tmp_path / "prompts" / "learnable_prompts_epoch1.pt"
    for changes, message in [
        ({"image_size": 112}, r"image_size: \[56, 56\] there, \[112, 112\] here"),
        ({"resize": "letterbox"}, "resize: 'reference' there, 'letterbox' here"),
        ({"sigma": 1.0}, "scoring.sigma: 4.0 there, 1.0 here"),
        ({"fixed_prompts": "medical"}, "fixed_prompts: 'industrial' there, 'medical' here"),
    ]:
        other = Detector.load(prompt_file, backbone=tiny_tips("mlp"), class_name="bottle", **changes)
        with pytest.raises(ThresholdsError, match=message):
            check_provenance(thresholds, other.provenance, "t.json")
    other_prompts = Detector.load(write_prompt_file(tmp_path / "other.pt", seed=1), backbone=tiny_tips("mlp"), class_name="bottle")
    with pytest.raises(ThresholdsError, match="prompt_hash: 'learned prompts [0-9a-f]{12}' there, 'learned prompts [0-9a-f]{12}' here"):
        check_provenance(thresholds, other_prompts.provenance, "t.json")
    fixed_only = Detector.load(None, backbone=tiny_tips("mlp"), class_name="bottle", image_size=56)
    with pytest.raises(ThresholdsError, match="there, 'fixed prompts only' here"):
        check_provenance(thresholds, fixed_only.provenance, "t.json")
