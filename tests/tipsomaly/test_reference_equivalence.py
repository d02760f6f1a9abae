"""Tipsomaly's scores and maps equal a line-by-line transcription of the reference implementation."""

import pytest
import torch

from datamodules.class_names import prompt_class_name

from lightning_modules.tipsomaly import TipsomalyModel
from tests.conftest import fixture_images
from tests.tipsomaly.reference_pipeline import reference_scores

CLASSES = ["bottle", "metal_nut"]  # the reference dataset's names, which its pipeline rewrites
WORDS = [prompt_class_name("mvtec", name) for name in CLASSES]  # ours: the data layer rewrites them ("metal nut")
SCORE_ATOL = 1e-5
MAP_ATOL = 1e-5


def _model(tiny_tips, **options):
    torch.manual_seed(0)
    return TipsomalyModel(tiny_tips("mlp"), **options)


def _learned(model):
    model.prompts_changed()
    return torch.stack([model.prompts.normal.detach(), model.prompts.abnormal.detach()])


@pytest.mark.parametrize("local_to_global", [True, False])
@pytest.mark.parametrize("image_token", ["first", "second"])
def test_zero_shot_scores_and_maps_use_fixed_prompts(tiny_tips, local_to_global, image_token):
    model = _model(tiny_tips, local_to_global=local_to_global, image_token=image_token)
    images = fixture_images(224)
    with torch.no_grad():
        out = model(images, WORDS)
    score, maps = reference_scores(model.tips, images, CLASSES, local_to_global=local_to_global, image_token=0 if image_token == "first" else 1)
    torch.testing.assert_close(out.pred_score, score, rtol=0, atol=SCORE_ATOL)
    torch.testing.assert_close(out.anomaly_map, maps, rtol=0, atol=MAP_ATOL)


@pytest.mark.parametrize("method", ["concat", "sumate", "entire_learnable"])
@pytest.mark.parametrize("decoupled", [True, False])
def test_learned_prompts_score_the_pixels(tiny_tips, method, decoupled):
    model = _model(tiny_tips, prompt_method=method, decoupled=decoupled)
    learnables = _learned(model)
    images = fixture_images(224)
    with torch.no_grad():
        out = model(images, WORDS)
    score, maps = reference_scores(model.tips, images, CLASSES, learnables=learnables, method=method, decoupled=decoupled)
    torch.testing.assert_close(out.pred_score, score, rtol=0, atol=SCORE_ATOL)
    torch.testing.assert_close(out.anomaly_map, maps, rtol=0, atol=MAP_ATOL)


def test_untrained_prompts_do_not_score(tiny_tips):
    """Random prompts that were never trained or loaded leave the method purely zero-shot."""
    images = fixture_images(224)
    with torch.no_grad():
        untrained = _model(tiny_tips)(images, WORDS)
        fixed_only = _model(tiny_tips, prompt_method="none")(images, WORDS)
    torch.testing.assert_close(untrained.anomaly_map, fixed_only.anomaly_map)
    torch.testing.assert_close(untrained.pred_score, fixed_only.pred_score)


def test_decoupling_changes_the_image_score_not_the_map(tiny_tips):
    images = fixture_images(224)
    coupled, decoupled = _model(tiny_tips, decoupled=False), _model(tiny_tips, decoupled=True)
    for m in (coupled, decoupled):
        _learned(m)
    with torch.no_grad():
        a, b = coupled(images, WORDS), decoupled(images, WORDS)
    torch.testing.assert_close(a.anomaly_map, b.anomaly_map)
    assert not torch.allclose(a.pred_score, b.pred_score)


def test_maps_are_in_unit_range_and_scores_in_two(tiny_tips):
    with torch.no_grad():
        out = _model(tiny_tips)(fixture_images(224), WORDS)
    assert out.anomaly_map.shape == (2, 224, 224)
    assert 0 <= out.anomaly_map.min() and out.anomaly_map.max() <= 1
    assert ((0 <= out.pred_score) & (out.pred_score <= 2)).all()


def test_bf16_autocast_scores_in_float32(tiny_tips):
    model = _model(tiny_tips)
    images = fixture_images(224)
    with torch.no_grad():
        full = model(images, WORDS)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = model(images, WORDS)
    assert half.pred_score.dtype == torch.float32 and half.anomaly_map.dtype == torch.float32
    # measured: |bf16 - fp32| <= 0.0073 (maps) and 0.0018 (scores) on these checkpoints
    assert (half.anomaly_map - full.anomaly_map).abs().max() < 0.02
    assert (half.pred_score - full.pred_score).abs().max() < 0.01
