"""What the Tipsomaly method needs from a backbone, and nothing more.

A backbone is a frozen image-text model with:
- `encode_image(images [B, 3, H, W] in [0, 1], check_range=True) -> (first [B, D], second [B, D], patches [B, N, D])`,
  raw (not L2-normalised); H and W multiples of `patch_size`;
- the text side: `tokenizer(sentences) -> (ids [B, L], paddings [B, L])`, `text(ids, paddings, prompts=None,
  prompt_method="concat", deep_prompts=None) -> [B, D]` (learnable prompts enter its token embeddings) and
  `encode_text(sentences) -> [B, D]`;
- `patch_size`, `text_width`, `scoring_rule` and `identity()`.

`TipsModel` (lightning_modules/tips) and `SiglipBackbone` (siglip.py) implement it. The functions below read the
few facts a TipsModel may not expose as attributes yet (its patch size, scoring rule and identity), so the method
speaks to one interface.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from .errors import BackboneError

SCORING_KINDS = ("softmax", "sigmoid")


@dataclass(frozen=True)
class ScoringRule:
    """How cosine similarities become (normal, abnormal) probabilities.

    - "softmax" (TIPS): softmax over the two states of cos / temperature.
    - "sigmoid" (SigLIP): each state on its own, sigmoid(cos * exp(logit_scale) + logit_bias); the two need not sum to 1.
    """

    kind: str = "softmax"
    temperature: float = 1.0
    logit_scale: float = 0.0  # log of the multiplier, as SigLIP stores it
    logit_bias: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in SCORING_KINDS:
            raise BackboneError(f"scoring rule kind {self.kind!r}: expected one of {', '.join(SCORING_KINDS)}")
        if self.kind == "softmax" and not self.temperature > 0:
            raise BackboneError(f"softmax scoring needs a temperature > 0, got {self.temperature}")

    def as_dict(self) -> dict:
        if self.kind == "softmax":
            return {"kind": "softmax", "temperature": self.temperature}
        return {"kind": "sigmoid", "logit_scale": self.logit_scale, "logit_bias": self.logit_bias}


@runtime_checkable
class Backbone(Protocol):
    patch_size: int
    text_width: int
    scoring_rule: ScoringRule

    def encode_image(self, images: Tensor, check_range: bool = True) -> tuple[Tensor, Tensor, Tensor]: ...

    def encode_text(self, sentences: list[str] | str) -> Tensor: ...

    def identity(self) -> dict: ...


TIPS_PATCH_SIZE = 14  # every TIPS release (v1 and v2) is a ViT/14


def patch_size_of(backbone) -> int:
    """The backbone's patch size in pixels (TIPS: 14 unless the model says otherwise)."""
    return int(getattr(backbone, "patch_size", TIPS_PATCH_SIZE))


def scoring_rule_of(backbone) -> ScoringRule:
    """The backbone's scoring rule; a TIPS model that exposes only `temperature` scores by softmax."""
    rule = getattr(backbone, "scoring_rule", None)
    if isinstance(rule, ScoringRule):
        return rule
    return ScoringRule("softmax", temperature=float(backbone.temperature))


def weight_dtype(backbone: nn.Module) -> torch.dtype:
    """The dtype the frozen towers compute in (of their first parameter)."""
    return next(backbone.parameters()).dtype


def files_fingerprint(paths) -> str:
    """The weights' content fingerprint (`datamodules.fingerprint.weights_fingerprint`), files in name order."""
    from datamodules.fingerprint import weights_fingerprint  # here: `datamodules` imports Lightning

    return weights_fingerprint(sorted((str(p) for p in paths), key=os.path.basename))


def identity_of(backbone) -> dict:
    """{"kind", "label", "source", "revision", "fingerprint"}: which weights score, for provenance and caches.

    Every backbone answers itself (`TipsModel.identity`, `SiglipBackbone.identity`); this is the one call site
    the method uses, and a clear error for an object that is not a backbone.
    """
    if not callable(getattr(backbone, "identity", None)):
        raise BackboneError(f"{type(backbone).__name__} has no identity(): give a loaded backbone (lightning_modules/backbones)")
    return dict(backbone.identity())


def identity_key(backbone) -> str:
    """One string for cache keys: the kind and the weights' fingerprint."""
    identity = identity_of(backbone)
    return f"{identity['kind']}:{identity['fingerprint']}"


def check_image_size(backbone_label: str, patch_size: int, height: int, width: int) -> None:
    """Refuse an image size off the backbone's patch grid, naming the backbone and its patch size."""
    if height % patch_size or width % patch_size or height < patch_size or width < patch_size:
        fit = lambda n: max(patch_size, round(n / patch_size) * patch_size)  # noqa: E731
        raise BackboneError(
            f"image size {height}x{width} is not a multiple of the patch size {patch_size} of backbone "
            f"'{backbone_label}'; resize to e.g. {fit(height)}x{fit(width)}"
        )


def check_prompt_kind(settings: dict, kind: str | None, where: str) -> None:
    """Refuse prompts learned on another kind of backbone (their `backbone_kind` setting): TIPS prompts mean nothing
    to SigLIP's text tower, even at the same width. Files without the setting (older ones, the reference's) pass."""
    learned_on = settings.get("backbone_kind")
    if kind is not None and learned_on is not None and learned_on != kind:
        raise BackboneError(
            f"{where}: prompts were learned on a {learned_on} backbone ({settings.get('backbone')}) but this model runs "
            f"{kind}; use prompts learned with this backbone, or train them"
        )
