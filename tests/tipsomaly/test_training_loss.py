import math

import numpy as np
import pytest
import torch

from lightning_modules.tipsomaly.loss import (
    binarize_mask,
    classification_loss,
    dice_loss,
    focal_loss,
    l1_penalty,
    segmentation_loss,
)


def random_batch(seed=0, b=3, h=12, w=10):
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(b, 2, h, w, generator=g, dtype=torch.float64) * 2, dim=1)
    mask = (torch.rand(b, h, w, generator=g) > 0.7).double()
    return probs, mask


# Independent transcriptions of the reference formulas (AnomalyCLIP's FocalLoss / BinaryDiceLoss) in numpy.
def numpy_focal(probs, mask, gamma=2.0, smooth=1e-5):
    p = probs.transpose(0, 2, 3, 1).reshape(-1, 2)  # pixels x classes
    onehot = np.zeros_like(p)
    onehot[np.arange(len(p)), mask.reshape(-1).astype(int)] = 1
    onehot = np.clip(onehot, smooth / (2 - 1), 1 - smooth)
    pt = (onehot * p).sum(axis=1) + smooth
    return np.mean(-1.0 * (1 - pt) ** gamma * np.log(pt))


def numpy_dice(x, y):
    n = x.shape[0]
    x, y = x.reshape(n, -1), y.reshape(n, -1)
    per_image = (2 * (x * y).sum(1) + 1) / (x.sum(1) + y.sum(1) + 1)
    return 1 - per_image.sum() / n


def test_focal_and_dice_match_the_reference_formulas():
    probs, mask = random_batch()
    assert focal_loss(probs, mask).item() == pytest.approx(numpy_focal(probs.numpy(), mask.numpy()), rel=1e-12)
    assert dice_loss(probs[:, 1], mask).item() == pytest.approx(numpy_dice(probs[:, 1].numpy(), mask.numpy()), rel=1e-12)


def test_segmentation_loss_thresholds_the_mask_and_sums_three_terms():
    probs, mask = random_batch(seed=1)
    soft_mask = mask * 0.9 + 0.05  # 0.05 / 0.95, as a resized 8-bit mask could hold
    expected = (
        numpy_focal(probs.numpy(), mask.numpy())
        + numpy_dice(probs[:, 1].numpy(), mask.numpy())
        + numpy_dice(probs[:, 0].numpy(), 1 - mask.numpy())
    )
    assert segmentation_loss(probs, soft_mask).item() == pytest.approx(expected, rel=1e-12)
    assert binarize_mask(torch.tensor([0.2, 0.5, 0.51, 1.0])).tolist() == [0.0, 0.0, 1.0, 1.0]


def test_perfect_map_costs_nothing_and_the_inverted_map_costs_a_lot():
    _, mask = random_batch(seed=2)
    perfect = torch.stack([1 - mask, mask], dim=1)
    assert segmentation_loss(perfect, mask).item() == pytest.approx(0.0, abs=1e-9)
    inverted = torch.stack([mask, 1 - mask], dim=1)
    assert focal_loss(inverted, mask).item() == pytest.approx(-math.log(2e-5), rel=1e-4)  # pt = 1e-5 + 1e-5
    assert dice_loss(inverted[:, 1], mask).item() > 0.9


def test_classification_loss_feeds_probabilities_as_logits_once_per_token():
    # A confident, correct token still costs log(1 + e^-1): the probabilities are softmaxed again.
    probs = torch.tensor([[[0.0, 1.0], [0.0, 1.0]]])
    assert classification_loss(probs, torch.tensor([1])).item() == pytest.approx(2 * math.log(1 + math.exp(-1)), rel=1e-6)

    g = torch.Generator().manual_seed(3)
    probs = torch.softmax(torch.randn(5, 2, 2, generator=g, dtype=torch.float64), dim=-1)
    labels = torch.tensor([0, 1, 1, 0, 1])
    p = probs.numpy()
    log_softmax = p - np.log(np.exp(p).sum(-1, keepdims=True))
    expected = sum(-log_softmax[np.arange(5), token, labels.numpy()].mean() for token in range(2))
    assert classification_loss(probs, labels).item() == pytest.approx(expected, rel=1e-12)


def test_l1_penalty_sums_absolute_values():
    features = torch.tensor([[[0.6, -0.8], [-1.0, 0.0]]])
    assert l1_penalty(features).item() == pytest.approx(2.4)


def test_gradients_reach_the_logits():
    logits = torch.randn(2, 2, 9, 9, requires_grad=True)
    token_logits = torch.randn(2, 2, 2, requires_grad=True)
    mask = (torch.rand(2, 9, 9) > 0.5).float()
    loss = segmentation_loss(torch.softmax(logits, 1), mask) + classification_loss(torch.softmax(token_logits, -1), torch.tensor([0, 1]))
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    assert token_logits.grad.abs().sum() > 0


def test_shape_errors_name_the_expected_shapes():
    with pytest.raises(ValueError, match=r"probs \[B, 2, H, W\] and mask \[B, H, W\]"):
        focal_loss(torch.rand(2, 3, 4, 4), torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match=r"global_probs \[B, T>=1, 2\]"):
        classification_loss(torch.rand(2, 2), torch.tensor([0, 1]))
