"""The tensor-only scorer: backbone tokens + text features of the batch -> image scores and anomaly maps.

No strings, caches or Python loops over images: `torch.compile`, ONNX export and a GPU step
without host synchronisation take it as it is. Everything here runs in float32 with autocast
switched off, whatever the caller's autocast or matmul-precision setting: the backbone may run
in bf16, but at temperature 0.01 a bf16 similarity error of 4e-3 moves a logit by 0.4, and a
bf16 Gaussian blur leaves a 112 px map with ~200 distinct values (ties that distort pixel AUROC
and AUPRO).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lightning_modules.tips.vision_tower import PATCH_SIZE

from .scoring import anomaly_map, image_score, normalize_text, normalize_visual, state_probabilities

IMAGE_TOKENS = ("first", "second")


@dataclass
class ScorerOutput:
    """All float32, B images of S_h x S_w pixels, N patches.

    pred_score [B]: the chosen global token's score (in [0, 2] with local-to-global, else [0, 1]).
    score_first, score_second [B]: the same score from the first (CLS) and second (register) token.
    anomaly_map [B, S_h, S_w] in [0, 1]; max_pixel_score [B]: its maximum per image.
    patch_probabilities [B, N, 2]: (normal, abnormal) per patch, before upsampling.
    """

    pred_score: Tensor
    score_first: Tensor
    score_second: Tensor
    anomaly_map: Tensor
    max_pixel_score: Tensor
    patch_probabilities: Tensor


class AnomalyScorer(nn.Module):
    """Scores and maps from raw backbone tokens and unit text features.

    Args:
        temperature: the TIPS softmax temperature.
        image_token: "first" (CLS) or "second" (register): which global token gives `pred_score`.
        local_to_global: add the maximum abnormal patch probability to the image scores.
        sigma: Gaussian smoothing of the anomaly map (0 = none).
    """

    def __init__(self, temperature: float, image_token: str = "first", local_to_global: bool = True, sigma: float = 4.0):
        super().__init__()
        if image_token not in IMAGE_TOKENS:
            raise ValueError(f"image_token must be 'first' (the CLS token) or 'second' (the register token), got {image_token!r}")
        self.temperature = float(temperature)
        self.image_token = image_token
        self.local_to_global = local_to_global
        self.sigma = float(sigma)

    def forward(
        self, first: Tensor, second: Tensor, patches: Tensor, image_text: Tensor, pixel_text: Tensor, image_size: tuple[int, int]
    ) -> ScorerOutput:
        """first, second [B, D] and patches [B, N, D]: backbone tokens, any float dtype, not normalised.
        image_text, pixel_text [B or 1, 2, D]: (normal, abnormal) text features. image_size (S_h, S_w):
        the input images' size, a multiple of the patch size on each side."""
        grid = (image_size[0] // PATCH_SIZE, image_size[1] // PATCH_SIZE)
        with torch.autocast(device_type=patches.device.type, enabled=False):
            image_text, pixel_text = normalize_text(image_text), normalize_text(pixel_text)
            patch_probabilities = state_probabilities(normalize_visual(patches), pixel_text, self.temperature)
            local = patch_probabilities if self.local_to_global else None
            scores = [
                image_score(state_probabilities(normalize_visual(token[:, None]), image_text, self.temperature)[:, 0], local)
                for token in (first, second)
            ]
            maps = anomaly_map(patch_probabilities, grid, tuple(image_size), self.sigma)
        return ScorerOutput(
            pred_score=scores[IMAGE_TOKENS.index(self.image_token)],
            score_first=scores[0],
            score_second=scores[1],
            anomaly_map=maps,
            max_pixel_score=maps.flatten(1).amax(dim=1),
            patch_probabilities=patch_probabilities,
        )
