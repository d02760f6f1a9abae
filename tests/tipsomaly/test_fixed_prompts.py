import zlib

import numpy as np
import pytest
import torch

from lightning_modules.tipsomaly.fixed_prompts import (
    ENSEMBLES,
    FixedPromptFeatures,
    ensemble_feature,
    prompt_sentences,
)

WIDTH = 16


class FakeTextTower:
    """A deterministic stand-in for the TIPS text tower: each sentence -> a fixed random vector; records the calls."""

    def __init__(self):
        self.calls = []
        self.weight = torch.nn.Parameter(torch.ones(()))  # a trainable tensor, to see that no graph is built

    def __call__(self, sentences):
        self.calls.append(list(sentences))
        return embed(sentences) * self.weight


def embed(sentences):
    rows = [torch.randn(WIDTH, generator=torch.Generator().manual_seed(zlib.crc32(s.encode()))) for s in sentences]
    return torch.stack(rows) * 3.0


def reference_ensemble(embeddings: np.ndarray) -> np.ndarray:
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-3)
    mean = unit.mean(axis=0)
    return mean / np.linalg.norm(mean)


def test_prompt_words_are_used_as_given_so_user_overrides_survive():
    # the data decides the words (datamodules.class_names: metal_nut -> metal nut, or the user's override)
    assert prompt_sentences("object_agnostic", "x-ray film") == (["x-ray film"], ["damaged x-ray film"])
    assert prompt_sentences("object_agnostic", "pcb_1") == (["pcb_1"], ["damaged pcb_1"])


def test_industrial_sentences_are_state_major():
    normal, abnormal = prompt_sentences("industrial", "metal nut")
    assert (len(normal), len(abnormal)) == (7 * 4, 5 * 4)
    assert normal[:5] == [
        "a bad photo of a metal nut.",
        "a low resolution photo of the metal nut.",
        "a bad photo of the metal nut.",
        "a cropped photo of the metal nut.",
        "a bad photo of a flawless metal nut.",  # second state starts after all four templates of the first
    ]
    assert normal[-1] == "a cropped photo of the metal nut without damage."
    assert abnormal[0] == "a bad photo of a damaged metal nut."
    assert abnormal[-1] == "a cropped photo of the metal nut with damage."


def test_medical_and_object_agnostic_ensembles():
    normal, abnormal = prompt_sentences("medical", "brain")
    assert (len(normal), len(abnormal)) == (10 * 8, 8 * 8)
    assert normal[0] == "a medical image of a normal brain."
    assert normal[7 * 8 + 7] == "a clinical brain scan of a brain looking normal."
    assert abnormal[-1] == "a clinical brain scan of a brain with uneven texture."
    assert prompt_sentences("object_agnostic", "object") == (["object"], ["damaged object"])
    assert prompt_sentences(ENSEMBLES["object_agnostic"], "metal nut") == (["metal nut"], ["damaged metal nut"])


def test_unknown_ensemble_names_the_valid_ones():
    with pytest.raises(ValueError, match="'industrial'.*'medical'.*'object_agnostic'"):
        prompt_sentences("industrail", "bottle")
    with pytest.raises(ValueError, match="industrial"):
        FixedPromptFeatures(FakeTextTower(), ensemble="medcal")


def test_ensemble_feature_normalises_each_sentence_then_the_mean():
    embeddings = torch.randn(6, WIDTH, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * torch.tensor([[0.1], [1.0], [7.0], [2.0], [1e-5], [0.5]], dtype=torch.float64)
    feature = ensemble_feature(embeddings)
    np.testing.assert_allclose(feature.numpy(), reference_ensemble(embeddings.numpy()), rtol=0, atol=1e-12)
    assert feature.norm().item() == pytest.approx(1.0, abs=1e-12)
    # The 1e-5-short sentence is only scaled by 1/1e-3, not blown up to unit length like the others.
    unit_rows = embeddings / embeddings.norm(dim=1, keepdim=True)
    without_floor = unit_rows.mean(0) / unit_rows.mean(0).norm()
    assert (feature - without_floor).abs().max().item() > 1e-2


def test_fixed_features_encode_each_class_once_and_are_cached():
    tower = FakeTextTower()
    fixed = FixedPromptFeatures(tower, ensemble="industrial")
    features = fixed(["bottle", "metal nut", "bottle"])
    assert features.shape == (3, 2, WIDTH) and features.dtype == torch.float32
    assert not features.requires_grad
    assert len(tower.calls) == 4  # 2 classes x (normal, abnormal)
    assert torch.equal(features[0], features[2])

    normal, abnormal = prompt_sentences("industrial", "metal nut")
    assert tower.calls[2:] == [normal, abnormal]
    for state, sentences in enumerate((normal, abnormal)):
        expected = reference_ensemble(embed(sentences).double().numpy())
        np.testing.assert_allclose(features[1, state].numpy(), expected, atol=1e-6)
    assert torch.dot(features[1, 0], features[1, 1]).item() < 0.99  # the two states differ

    again = fixed(["metal nut", "bottle"])  # the same words -> cache hit
    assert len(tower.calls) == 4
    assert torch.equal(again[0], features[1]) and torch.equal(again[1], features[0])
