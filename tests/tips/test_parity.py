"""Our TIPS towers reproduce the official implementation's outputs on the tiny checkpoints."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.conftest import fixture_images

TOLERANCE = 1e-4  # the bound; measured max difference is about 3e-6


@pytest.mark.parametrize("kind", ["mlp", "swiglu"])
@pytest.mark.parametrize("size", [224, 448, 518])
def test_image_tower_matches_official_outputs(tiny_tips, reference_outputs, kind, size):
    with torch.no_grad():
        first, second, patches = tiny_tips(kind).encode_image(fixture_images(size))
    expected = {name: reference_outputs[f"{kind}/vision/{size}/{name}"] for name in ("cls1", "cls2", "patch")}
    assert patches.shape == expected["patch"].shape == (2, (size // 14) ** 2, patches.shape[-1])
    np.testing.assert_allclose(first.numpy(), expected["cls1"][:, 0], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(second.numpy(), expected["cls2"][:, 0], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(patches.numpy(), expected["patch"], rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("kind", ["mlp", "swiglu"])
def test_tokenizer_matches_official_ids_and_paddings(tiny_tips, reference_outputs, fixture_sentences, kind):
    ids, paddings = tiny_tips(kind).tokenizer(fixture_sentences)
    np.testing.assert_array_equal(ids.numpy(), reference_outputs[f"{kind}/text/ids"])
    np.testing.assert_array_equal(paddings.numpy(), reference_outputs[f"{kind}/text/paddings"])
    assert paddings[3].sum() == 0  # the 80-word sentence is cut to 64 tokens, none padding


@pytest.mark.parametrize("kind", ["mlp", "swiglu"])
def test_text_tower_matches_official_embeddings(tiny_tips, reference_outputs, fixture_sentences, kind):
    with torch.no_grad():
        embeddings = tiny_tips(kind).encode_text(fixture_sentences)
    np.testing.assert_allclose(embeddings.numpy(), reference_outputs[f"{kind}/text/embeddings"], rtol=0, atol=TOLERANCE)


def test_text_embedding_of_a_sentence_does_not_depend_on_its_batch(tiny_tips, fixture_sentences):
    model = tiny_tips("mlp")
    with torch.no_grad():
        alone = model.encode_text(fixture_sentences[0])
        in_batch = model.encode_text(fixture_sentences)[:1]
    torch.testing.assert_close(alone, in_batch, rtol=0, atol=1e-5)


def test_temperature_comes_from_the_text_file(tiny_tips):
    model = tiny_tips("mlp")
    assert model.temperature == pytest.approx(0.01)
    assert model.temperature_key == "temperature"


# bf16: measured on these checkpoints, max |bf16 - official fp32| is 0.047 (autocast) and 0.061
# (bf16 weights) on patch tokens of magnitude up to 3.3, with cosine similarity >= 0.99988.
BF16_ATOL = 0.1
BF16_MIN_COSINE = 0.999


@pytest.mark.parametrize("kind", ["mlp", "swiglu"])
def test_bf16_autocast_stays_within_the_measured_tolerance(tiny_tips, reference_outputs, fixture_sentences, kind):
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        _, _, patches = tiny_tips(kind).encode_image(fixture_images(448))
        text = tiny_tips(kind).encode_text(fixture_sentences)
    expected = torch.from_numpy(reference_outputs[f"{kind}/vision/448/patch"])
    assert (patches.float() - expected).abs().max() < BF16_ATOL
    assert F.cosine_similarity(patches.float(), expected, dim=-1).min() > BF16_MIN_COSINE
    assert (text.float() - torch.from_numpy(reference_outputs[f"{kind}/text/embeddings"])).abs().max() < BF16_ATOL


def test_bf16_weights_stay_within_the_measured_tolerance(reference_outputs):
    from lightning_modules.tips import load_tips
    from tests.conftest import tiny_files

    model = load_tips(**tiny_files("swiglu"), dtype=torch.bfloat16)
    assert model.vision.cls_token.dtype == torch.bfloat16
    with torch.no_grad():
        _, _, patches = model.encode_image(fixture_images(448))
    expected = torch.from_numpy(reference_outputs["swiglu/vision/448/patch"])
    assert patches.dtype == torch.bfloat16
    assert (patches.float() - expected).abs().max() < BF16_ATOL
    assert F.cosine_similarity(patches.float(), expected, dim=-1).min() > BF16_MIN_COSINE


def test_float64_model_matches_official_outputs(reference_outputs):
    from lightning_modules.tips import load_tips
    from tests.conftest import tiny_files

    model = load_tips(**tiny_files("mlp"), dtype=torch.float64)
    with torch.no_grad():
        _, _, patches = model.encode_image(fixture_images(518))
    assert patches.dtype == torch.float64
    np.testing.assert_allclose(patches.numpy(), reference_outputs["mlp/vision/518/patch"], rtol=0, atol=TOLERANCE)
