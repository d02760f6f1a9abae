"""The SigLIP towers as transformers runs them, prompts placed as the reference places them, sigmoid training."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lightning_modules.backbones import BackboneError
from lightning_modules.tipsomaly import TipsomalyModel
from lightning_modules.tipsomaly.loss import segmentation_loss
from tests.backbones.conftest import SIGLIP_FOLDER

SENTENCES = ["a bad photo of a bottle.", "damaged metal nut", "object"]


@pytest.fixture(scope="module")
def hf_model():
    from transformers import SiglipModel

    return SiglipModel.from_pretrained(str(SIGLIP_FOLDER)).eval()


def test_text_features_are_transformers_own_pooled_output_without_a_mask(tiny_siglip, hf_model):
    ids, _ = tiny_siglip.tokenizer(SENTENCES)
    assert ids.shape == (3, 64)  # padded to the 64 positions, as SigLIP was trained
    with torch.no_grad():
        expected = hf_model.text_model(input_ids=ids).pooler_output
        ours = tiny_siglip.encode_text(SENTENCES)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-6)


def test_image_tokens_are_transformers_own_outputs_on_normalised_pixels(tiny_siglip, hf_model, siglip_pixels):
    with torch.no_grad():
        expected = hf_model.vision_model(pixel_values=(siglip_pixels - 0.5) / 0.5)
        first, second, patches = tiny_siglip.encode_image(siglip_pixels)
    torch.testing.assert_close(first, expected.pooler_output, rtol=0, atol=1e-6)
    torch.testing.assert_close(second, expected.pooler_output, rtol=0, atol=1e-6)
    torch.testing.assert_close(patches, expected.last_hidden_state, rtol=0, atol=1e-6)


def _reference_text(hf_model, inputs_embeds):
    """The reference's text path after its embeddings: position embeddings added, no mask, last position, head."""
    text = hf_model.text_model
    hidden = inputs_embeds + text.embeddings.position_embedding.weight[None, : inputs_embeds.shape[1]]
    hidden = text.final_layer_norm(text.encoder(inputs_embeds=hidden).last_hidden_state)
    return text.head(hidden[:, -1])


@pytest.mark.parametrize("method", ["concat", "sumate", "entire_learnable"])
def test_prompts_enter_the_token_embeddings_before_the_position_embeddings(tiny_siglip, hf_model, method):
    torch.manual_seed(0)
    prompts = torch.randn(8, 64) * 0.02
    ids, paddings = tiny_siglip.tokenizer(SENTENCES)
    tokens = hf_model.text_model.embeddings.token_embedding(ids)
    placed = {
        "concat": torch.cat([prompts.expand(3, -1, -1), tokens], dim=1)[:, :64],
        "sumate": tokens + F.pad(prompts, (0, 0, 0, 56)),
        "entire_learnable": F.pad(prompts, (0, 0, 0, 56)).expand(3, -1, -1),
    }[method]
    with torch.no_grad():
        ours = tiny_siglip.text(ids, paddings, prompts=prompts, prompt_method=method)
        expected = _reference_text(hf_model, placed)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-5)


def test_deep_prompts_are_refused_on_siglip(tiny_siglip):
    ids, paddings = tiny_siglip.tokenizer(SENTENCES)
    with pytest.raises(BackboneError, match="deep prompts .* not supported on a SigLIP backbone"):
        tiny_siglip.text(ids, paddings, deep_prompts=[torch.zeros(2, 64)])


def test_prompt_training_uses_the_sigmoid_scores_and_reaches_the_prompts(tiny_siglip):
    torch.manual_seed(0)
    model = TipsomalyModel(tiny_siglip, n_prompt=4)
    images = torch.rand(2, 3, 32, 32)
    out = model.training_forward(images)
    assert out.global_probabilities.shape == (2, 2, 2) and out.pixel_probabilities.shape == (2, 2, 32, 32)
    # per-state sigmoids: normal + abnormal is not 1, as a softmax's would be
    assert (out.global_probabilities.sum(-1) - 1).abs().max() > 1e-3
    loss = segmentation_loss(out.pixel_probabilities, torch.zeros(2, 32, 32))
    loss.backward()
    assert model.prompts.normal.grad.abs().sum() > 0 and model.prompts.abnormal.grad.abs().sum() > 0
    assert all(p.grad is None for p in tiny_siglip.parameters())  # the backbone stays frozen


def test_the_patch_grid_is_the_backbones(tiny_siglip):
    model = TipsomalyModel(tiny_siglip, prompt_method="none")
    with torch.no_grad():
        out = model(torch.rand(1, 3, 48, 32), ["bottle"])
    assert out.patch_probabilities.shape == (1, 3 * 2, 2) and out.anomaly_map.shape == (1, 48, 32)


def test_an_image_size_off_the_grid_names_the_backbone_and_its_patch_size(tiny_siglip):
    model = TipsomalyModel(tiny_siglip, prompt_method="none")
    with pytest.raises(BackboneError, match=r"image size 28x28 is not a multiple of the patch size 16 of backbone 'hf'; resize to e\.g\. 32x32"):
        model(torch.rand(1, 3, 28, 28), ["bottle"])


def test_normalised_images_are_refused(tiny_siglip):
    with pytest.raises(BackboneError, match=r"expected \[0, 1\]; the backbone normalises with its own mean and std"):
        tiny_siglip.encode_image(torch.full((1, 3, 32, 32), -1.0))
