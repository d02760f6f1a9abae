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

from lightning_modules.backbones.protocol import TIPS_PATCH_SIZE, ScoringRule

from .scoring import anomaly_map, image_score, normalize_text, normalize_visual, state_probabilities, upsample_probabilities

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
        temperature: the TIPS softmax temperature, or the backbone's `ScoringRule` (SigLIP: per-state sigmoids).
        image_token: "first" (CLS) or "second" (register): which global token gives `pred_score`.
        local_to_global: add the maximum abnormal patch probability to the image scores.
        sigma: Gaussian smoothing of the anomaly map (0 = none).
        patch_size: the backbone's patch size in pixels (14 for TIPS, 16 for SigLIP 2): the patch grid of an image.
    """

    def __init__(
        self,
        temperature: float | ScoringRule,
        image_token: str = "first",
        local_to_global: bool = True,
        sigma: float = 4.0,
        patch_size: int = TIPS_PATCH_SIZE,
    ):
        super().__init__()
        if image_token not in IMAGE_TOKENS:
            raise ValueError(f"image_token must be 'first' (the CLS token) or 'second' (the register token), got {image_token!r}")
        self.rule = temperature if isinstance(temperature, ScoringRule) else ScoringRule("softmax", temperature=float(temperature))
        self.image_token = image_token
        self.local_to_global = local_to_global
        self.sigma = float(sigma)
        self.patch_size = int(patch_size)

    @property
    def temperature(self) -> float | ScoringRule:
        """The softmax temperature (TIPS), or the whole rule for another kind: what the constructor took."""
        return self.rule.temperature if self.rule.kind == "softmax" else self.rule

    def grid(self, image_size: tuple[int, int]) -> tuple[int, int]:
        return image_size[0] // self.patch_size, image_size[1] // self.patch_size

    def forward(
        self, first: Tensor, second: Tensor, patches: Tensor, image_text: Tensor, pixel_text: Tensor, image_size: tuple[int, int]
    ) -> ScorerOutput:
        """first, second [B, D] and patches [B, N, D]: backbone tokens, any float dtype, not normalised.
        image_text, pixel_text [B or 1, 2, D]: (normal, abnormal) text features. image_size (S_h, S_w):
        the input images' size, a multiple of the patch size on each side."""
        with torch.autocast(device_type=patches.device.type, enabled=False):
            image_text, pixel_text = normalize_text(image_text), normalize_text(pixel_text)
            patch_probabilities = state_probabilities(normalize_visual(patches), pixel_text, self.rule)
            local = patch_probabilities if self.local_to_global else None
            scores = [
                image_score(state_probabilities(normalize_visual(token[:, None]), image_text, self.rule)[:, 0], local)
                for token in (first, second)
            ]
            maps = anomaly_map(patch_probabilities, self.grid(image_size), tuple(image_size), self.sigma)
        return ScorerOutput(
            pred_score=scores[IMAGE_TOKENS.index(self.image_token)],
            score_first=scores[0],
            score_second=scores[1],
            anomaly_map=maps,
            max_pixel_score=maps.flatten(1).amax(dim=1),
            patch_probabilities=patch_probabilities,
        )

    def training_probabilities(
        self, first: Tensor, second: Tensor, patches: Tensor, text: Tensor, image_size: tuple[int, int]
    ) -> tuple[Tensor, Tensor]:
        """What the prompt-learning losses read, by the same rule as scoring: global [B, 2 tokens, 2 states] and
        pixel [B, 2, S_h, S_w] (upsampled, not smoothed). text [B or 1, 2, D]: the learned features."""
        with torch.autocast(device_type=patches.device.type, enabled=False):
            text = normalize_text(text)
            global_probabilities = torch.cat(
                [state_probabilities(normalize_visual(token[:, None]), text, self.rule) for token in (first, second)], dim=1
            )
            patch_probabilities = state_probabilities(normalize_visual(patches), text, self.rule)
            pixel = upsample_probabilities(patch_probabilities, self.grid(image_size), tuple(image_size))
        return global_probabilities, pixel
