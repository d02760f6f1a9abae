"""Threshold rules on plain scores, the JSON file, and refusing thresholds from another model."""

import json
import math

import pytest
import torch

from lightning_modules.deploy.thresholds import (
    Provenance,
    ThresholdsError,
    check_provenance,
    conformal_rank,
    f1_max_threshold,
    from_normal_scores,
    load_thresholds,
    quantile_threshold,
    save_thresholds,
)

PROVENANCE = Provenance("tips_v2_oss_l14", 518, "learnable_prompts_epoch2.pt", "ab" * 32, {"local_to_global": True, "sigma": 4.0})


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
    assert content["provenance"]["backbone"] == "tips_v2_oss_l14" and content["provenance"]["image_size"] == 518
    assert path.stat().st_size < 2000
    assert load_thresholds(path) == thresholds


def test_a_file_that_is_not_a_thresholds_file_is_refused(tmp_path):
    (tmp_path / "x.json").write_text('{"image_threshold": 1}')
    with pytest.raises(ThresholdsError, match="not a tipsomaly thresholds file"):
        load_thresholds(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("not json")
    with pytest.raises(ThresholdsError, match="not JSON"):
        load_thresholds(tmp_path / "y.json")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"backbone": "tips_v2_oss_b14"}, "backbone"),
        ({"image_size": 448}, "image size"),
        ({"prompt_sha256": "cd" * 32, "prompt_file": "other.pt"}, "prompt file"),
        ({"scoring": {"local_to_global": False, "sigma": 4.0}}, "local_to_global"),
    ],
)
def test_thresholds_from_another_model_are_refused(change, message):
    thresholds = from_normal_scores("bottle", torch.rand(10), torch.rand(10), PROVENANCE, quantile=0.9)
    other = Provenance(**{**PROVENANCE.__dict__, **change})
    with pytest.raises(ThresholdsError, match=message):
        check_provenance(thresholds, other, "thresholds_bottle.json")
    check_provenance(thresholds, PROVENANCE, "thresholds_bottle.json")  # its own model is fine
