"""Scores and maps from normalised features: the paper's zero-shot inference math, Trainer-free.

Shapes: B images, N patches on a (rows, cols) grid, D feature width, S output size.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from .gaussian import gaussian_blur
from .normalize import l2_normalize

if TYPE_CHECKING:
    from lightning_modules.backbones.protocol import ScoringRule


def normalize_visual(tokens: Tensor) -> Tensor:
    """Backbone tokens [..., D] -> unit vectors, float32.

    Normalised with the norm floored at 1e-3, then divided by the norm once more, as the
    reference does (the second pass changes values only at float rounding level).
    """
    tokens = l2_normalize(tokens.float())
    return tokens / tokens.norm(dim=-1, keepdim=True)


def normalize_text(features: Tensor) -> Tensor:
    """Ensemble text features [..., 2, D] -> unit vectors, float32, renormalised as the reference does."""
    features = F.normalize(features.float(), dim=-1)
    return features / features.norm(dim=-1, keepdim=True)


def state_probabilities(visual: Tensor, text: Tensor, rule: "float | ScoringRule") -> Tensor:
    """(normal, abnormal) probabilities of cosine similarities, in float32, by the backbone's scoring rule.

    visual: [B, N, D] unit vectors; text: [B or 1, 2, D] unit vectors -> [B, N, 2] in [0, 1].
    rule: a TIPS temperature (a float: softmax over the two states of cos / temperature) or a `ScoringRule`
    ("sigmoid", SigLIP: each state on its own, sigmoid(cos * exp(logit_scale) + logit_bias); the two need not sum to 1).
    Autocast is switched off here: at temperature 0.01 a bf16 similarity error of 4e-3 would
    move the logits by 0.4.
    """
    kind, temperature = ("softmax", float(rule)) if isinstance(rule, (int, float)) else (rule.kind, rule.temperature)
    with torch.autocast(device_type=visual.device.type, enabled=False):
        cosine = visual.float() @ text.float().transpose(1, 2)
        if kind == "softmax":
            return (cosine / temperature).softmax(dim=-1)
        return torch.sigmoid(cosine * math.exp(rule.logit_scale) + rule.logit_bias)


def image_score(global_probabilities: Tensor, patch_probabilities: Tensor | None) -> Tensor:
    """Image anomaly score [B]: the global token's abnormal probability, plus (local-to-global)
    the maximum abnormal probability over the patches when patch_probabilities [B, N, 2] is given.
    Range [0, 1], or [0, 2] with local-to-global.

    global_probabilities: [B, 2].
    """
    score = global_probabilities[:, 1]
    if patch_probabilities is not None:
        score = score + patch_probabilities[..., 1].max(dim=1).values
    return score


def upsample_probabilities(patch_probabilities: Tensor, grid: tuple[int, int], size: tuple[int, int]) -> Tensor:
    """Patch probabilities [B, N, 2] on a (rows, cols) grid -> [B, 2, H, W], bilinear, align_corners=False."""
    batch = patch_probabilities.shape[0]
    on_grid = patch_probabilities.reshape(batch, grid[0], grid[1], 2).permute(0, 3, 1, 2)
    return F.interpolate(on_grid, size=size, mode="bilinear", align_corners=False)


def anomaly_map(patch_probabilities: Tensor, grid: tuple[int, int], size: tuple[int, int], sigma: float = 4.0) -> Tensor:
    """Patch probabilities [B, N, 2] -> anomaly map [B, H, W] in [0, 1].

    Upsampled to the image size, map = (1 - p_normal + p_abnormal) / 2, then Gaussian smoothing
    equal to scipy's gaussian_filter(sigma) (no smoothing for sigma=0).
    """
    upsampled = upsample_probabilities(patch_probabilities, grid, size)
    rough = (1 - upsampled[:, 0] + upsampled[:, 1]) / 2
    return gaussian_blur(rough, sigma=sigma)
