"""The text-feature bank: fixed and learned prompt features per (prompt words, prompt family), as explicit state.

Fixed features never change (frozen text tower, fixed sentences): each (family, class words)
is encoded once. Learned features change with every optimiser step, so they are cached only
until `invalidate_learned()` is called; the owner calls it after each optimiser step and after
loading prompts (in-place updates such as a fused Adam step or `.data.copy_` do not bump a
tensor's version counter, so no automatic key can be trusted).

Text features are encoded in float32 with autocast off, also under bf16-mixed: they are few (one
batch of sentences per class or per step), and a bf16 text feature would move every logit at
temperature 0.01 by up to ~0.5.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lightning_modules.tips import TipsModel

from .fixed_prompts import FixedPromptFeatures, PromptEnsemble, resolve_ensemble
from .learnable_prompts import LearnablePrompts
from .scoring import normalize_text
from .text_feature_cache import TextFeatureCache


class TextFeatureBank:
    """Text features of a batch: fixed [B, 2, D] per image, learned [B or 1, 2, D]; unit length, float32.

    Args:
        tips: the frozen TIPS model (its text tower and tokenizer).
        prompts: the learnable prompts, or None for fixed prompts only.
        default_family: the prompt family used where a batch names none.
        text_cache: where fixed-prompt embeddings persist across runs (None: encoded in every run).
    """

    def __init__(
        self,
        tips: TipsModel,
        prompts: LearnablePrompts | None,
        default_family: str | PromptEnsemble = "industrial",
        text_cache: TextFeatureCache | None = None,
    ):
        self.tips = tips
        self.prompts = prompts
        self.default_family = resolve_ensemble(default_family)
        self.text_cache = text_cache  # fixed-prompt embeddings on disk, across runs (text_feature_cache.py)
        self._fixed: dict[PromptEnsemble, FixedPromptFeatures] = {}
        self._learned: dict[PromptEnsemble, Tensor] = {}

    @property
    def device(self) -> torch.device:
        return self.tips.text.token_embedding.weight.device

    def _families(self, families: str | PromptEnsemble | list | tuple | None, count: int) -> list[PromptEnsemble]:
        if families is None or isinstance(families, (str, PromptEnsemble)):
            return [resolve_ensemble(families or self.default_family)] * count
        if len(families) != count:
            raise ValueError(f"text_features.py: got {len(families)} prompt families for {count} images; give one per image or one for all")
        return [resolve_ensemble(family or self.default_family) for family in families]

    def fixed(self, prompt_names: list[str], families=None) -> Tensor:
        """[B, 2, D] fixed features of each image's prompt words under its family (one family, or one per image)."""
        per_image = self._families(families, len(prompt_names))
        rows = []
        with torch.autocast(device_type=self.device.type, enabled=False):
            for name, family in zip(prompt_names, per_image):
                if family not in self._fixed:
                    encode = self.text_cache.encoder(self.tips) if self.text_cache is not None else self.tips.encode_text
                    self._fixed[family] = FixedPromptFeatures(encode, family)
                rows.append(self._fixed[family].class_feature(name))
        # cached where first encoded; follow the model if it has moved since (e.g. CPU -> GPU)
        return normalize_text(torch.stack(rows).to(self.device))

    def learned(self, families=None, count: int = 1) -> Tensor:
        """Learned features, [1, 2, D] for one family, [count, 2, D] for one family per image.

        Differentiable (and never cached) while gradients are enabled.
        """
        if self.prompts is None:
            raise ValueError("prompt_method='none' has no learnable prompts; choose concat, sumate or entire_learnable")
        per_image = self._families(families, count)
        distinct = list(dict.fromkeys(per_image))
        features = {family: self._learned_one(family) for family in distinct}
        if len(distinct) == 1:
            return features[distinct[0]]
        return torch.cat([features[family] for family in per_image])

    def _learned_one(self, family: PromptEnsemble) -> Tensor:
        if torch.is_grad_enabled():
            return self._encode_learned(family)
        if family not in self._learned:
            self._learned[family] = self._encode_learned(family)
        return self._learned[family]

    def _encode_learned(self, family: PromptEnsemble) -> Tensor:
        with torch.autocast(device_type=self.device.type, enabled=False):
            return normalize_text(self.prompts.text_features(self.tips, family))[None]

    def invalidate_learned(self) -> None:
        """Forget the learned features: call after every change of the prompt vectors."""
        self._learned.clear()
