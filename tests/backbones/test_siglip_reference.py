"""SigLIP scores, maps and text features equal the reference's own `siglip2-hf` outputs (tests/data/siglip2)."""

import numpy as np
import pytest
import torch

from lightning_modules.tipsomaly import TipsomalyModel, load_prompt_checkpoint
from lightning_modules.tipsomaly.fixed_prompts import FixedPromptFeatures
from datamodules.class_names import prompt_class_name
from tests.backbones.conftest import SIGLIP_DATA

ATOL = 1e-4


def words(meta) -> list[str]:
    """The classes as our data layer says them in the sentences (`metal_nut` -> `metal nut`), as the reference does."""
    return [prompt_class_name("mvtec", name) for name in meta["classes"]]


@pytest.fixture(scope="module")
def reference_run(tiny_siglip, siglip_meta, siglip_pixels):
    model = TipsomalyModel(
        tiny_siglip, fixed_prompts="industrial", prompt_method=siglip_meta["method"], n_prompt=siglip_meta["n_prompt"],
        sigma=siglip_meta["sigma"], local_to_global=True, decoupled=True, feature_cache=None,
    )
    prompts = load_prompt_checkpoint(SIGLIP_DATA / "prompts.pth", expected_width=tiny_siglip.text_width)
    model.prompts.load_checkpoint(prompts, "prompts.pth")
    model.prompts_changed()
    with torch.no_grad():
        out = model(siglip_pixels, words(siglip_meta))
        learned = model.text_bank.learned()
    return model, out, learned


def test_the_image_tower_gives_the_reference_pooled_and_patch_tokens(tiny_siglip, siglip_pixels, siglip_reference):
    with torch.no_grad():
        first, second, patches = tiny_siglip.encode_image(siglip_pixels)
    np.testing.assert_allclose(first.numpy(), siglip_reference["pooled"], rtol=0, atol=ATOL)
    np.testing.assert_allclose(second.numpy(), siglip_reference["pooled"], rtol=0, atol=ATOL)
    np.testing.assert_allclose(patches.numpy(), siglip_reference["patch"], rtol=0, atol=ATOL)


def test_fixed_text_features_match_the_reference(tiny_siglip, siglip_meta, siglip_reference):
    features = FixedPromptFeatures(tiny_siglip.encode_text, "industrial")(words(siglip_meta))
    np.testing.assert_allclose(features.numpy(), siglip_reference["fixed_text"], rtol=0, atol=ATOL)


def test_learned_text_features_match_the_reference(reference_run, siglip_reference):
    _, _, learned = reference_run
    np.testing.assert_allclose(learned.numpy(), siglip_reference["learned_text"], rtol=0, atol=ATOL)


def test_both_image_scores_match_the_reference(reference_run, siglip_reference):
    _, out, _ = reference_run
    np.testing.assert_allclose(out.score_first.numpy(), siglip_reference["image_score_first"], rtol=0, atol=ATOL)
    np.testing.assert_allclose(out.score_second.numpy(), siglip_reference["image_score_second"], rtol=0, atol=ATOL)


def test_anomaly_maps_match_the_reference(reference_run, siglip_reference):
    _, out, _ = reference_run
    assert out.anomaly_map.shape == (2, 224, 224)
    np.testing.assert_allclose(out.anomaly_map.numpy(), siglip_reference["anomaly_map"], rtol=0, atol=ATOL)


def test_scores_are_sigmoids_not_a_softmax_over_the_states(reference_run):
    """Per-state sigmoids: normal and abnormal probabilities of a patch do not sum to 1 (a softmax's would)."""
    _, out, _ = reference_run
    sums = out.patch_probabilities.sum(dim=-1)
    assert (sums - 1).abs().max() > 1e-2
