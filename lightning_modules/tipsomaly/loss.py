"""Training losses for the learnable prompts: focal + dice on the pixel map (`seg`), cross-entropy on the global scores (`cls`).

Every formula matches the reference training step (`train.py`, AnomalyCLIP's `FocalLoss` and
`BinaryDiceLoss`), including its quirks, so that prompts trained here behave like released ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# The focal loss's label smoothing and the floor added to pt (AnomalyCLIP's `smooth=1e-5`).
FOCAL_SMOOTH = 1e-5


def binarize_mask(mask: Tensor) -> Tensor:
    """Ground-truth mask -> {0, 1} float: pixels above 0.5 are anomalous.

    Resized 8-bit masks hold in-between values at defect borders; the reference thresholds
    them at 0.5 before computing the loss.
    """
    return (mask > 0.5).to(torch.promote_types(mask.dtype, torch.float32))


def focal_loss(probs: Tensor, mask: Tensor, gamma: float = 2.0) -> Tensor:
    """Focal loss of a 2-class probability map, averaged over all pixels of the batch.

    probs: `[B, 2, H, W]`, channel 0 = P(normal), 1 = P(abnormal), each pixel summing to 1.
    mask: `[B, H, W]` in {0, 1}, 1 = anomalous. The one-hot target is clamped to
    [1e-5, 1 - 1e-5], `pt = sum_c target_c * p_c + 1e-5` and the loss is
    `mean(-(1 - pt)^gamma * log(pt))`; the class weight (alpha) is 1 for both classes.
    """
    if probs.dim() != 4 or probs.shape[1] != 2 or mask.shape != probs.shape[:1] + probs.shape[2:]:
        raise ValueError(f"loss.py: focal_loss expects probs [B, 2, H, W] and mask [B, H, W], got {tuple(probs.shape)} and {tuple(mask.shape)}")
    target = F.one_hot(mask.long(), num_classes=2).permute(0, 3, 1, 2).to(torch.promote_types(probs.dtype, torch.float32))
    target = target.clamp(FOCAL_SMOOTH, 1.0 - FOCAL_SMOOTH)
    pt = (target * probs).sum(dim=1) + FOCAL_SMOOTH
    return (-((1 - pt) ** gamma) * pt.log()).mean()


def dice_loss(x: Tensor, target: Tensor) -> Tensor:
    """Soft dice loss, `1 - mean over images of (2 sum(x y) + 1) / (sum(x) + sum(y) + 1)`.

    x: `[B, H, W]` probabilities in [0, 1]; target: `[B, H, W]` in {0, 1}. The +1 keeps an
    all-normal image with an all-zero prediction at dice 1 (loss 0) instead of 0/0.
    """
    if x.shape != target.shape:
        raise ValueError(f"loss.py: dice_loss expects prediction and target of one shape [B, H, W], got {tuple(x.shape)} and {tuple(target.shape)}")
    x, target = x.flatten(1), target.flatten(1)
    dice = (2 * (x * target).sum(dim=1) + 1) / (x.sum(dim=1) + target.sum(dim=1) + 1)
    return 1 - dice.mean()


def segmentation_loss(probs: Tensor, mask: Tensor) -> Tensor:
    """The `seg` loss: focal + dice(abnormal map, mask) + dice(normal map, 1 - mask).

    probs: the upsampled, unsmoothed `[B, 2, H, W]` probability map at image size; mask:
    `[B, H, W]` ground truth in [0, 1], thresholded at 0.5 here.
    """
    mask = binarize_mask(mask)
    return focal_loss(probs, mask) + dice_loss(probs[:, 1], mask) + dice_loss(probs[:, 0], 1 - mask)


def classification_loss(global_probs: Tensor, labels: Tensor) -> Tensor:
    """The `cls` loss: one cross-entropy term per global token, summed.

    global_probs: `[B, T, 2]` [P(normal), P(abnormal)] of each of the T global tokens (TIPS has
    two: the CLS token and the register token); labels: `[B]` long, 1 = anomalous.
    The probabilities go into `cross_entropy` as if they were logits, i.e. they are
    softmaxed a second time, as in the reference; this keeps the loss, and so the trained
    prompts, the same. Each term is the mean over the batch.
    """
    if global_probs.dim() != 3 or global_probs.shape[1] == 0 or global_probs.shape[-1] != 2 or global_probs.shape[0] != labels.shape[0]:
        raise ValueError(f"loss.py: classification_loss expects global_probs [B, T>=1, 2] and labels [B], got {tuple(global_probs.shape)} and {tuple(labels.shape)}")
    return sum(F.cross_entropy(global_probs[:, token], labels) for token in range(global_probs.shape[1]))


def l1_penalty(text_features: Tensor) -> Tensor:
    """Sum of absolute values of the learned text features (any shape, e.g. `[C, 2, D]`), as in the reference.

    The reference takes it over the normalised normal/abnormal features, not over the raw
    prompt vectors, and sums (no mean); the caller multiplies by lambda (default 0).
    """
    return text_features.abs().sum()
