"""What a test / validation / predict step returns: per-image results that callbacks write or log."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class EvaluationOutput:
    """B images of one batch, on the model's device.

    dataset_name, class_name (reader class), image_path: B strings each; is_padding: B bools (DDP
    repeats that writers must skip). label int64 [B] (-1 unknown). pred_score, score_first,
    score_second, max_pixel_score: float32 [B]. anomaly_map float32 [B, S, S] in [0, 1]; mask
    float32 [B, S, S] in {0, 1}, has_mask bool [B]. image float32 [B, 3, S, S] in [0, 1], the input
    as the model saw it (for overlays).
    """

    dataset_name: list[str]
    class_name: list[str]
    image_path: list[str]
    is_padding: list[bool]
    label: Tensor
    pred_score: Tensor
    score_first: Tensor
    score_second: Tensor
    max_pixel_score: Tensor
    anomaly_map: Tensor
    mask: Tensor
    has_mask: Tensor
    image: Tensor
