"""Learnable prompts: a few trainable vectors per state that score every patch for the anomaly map."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lightning_modules.tips import PROMPT_METHODS, TipsModel

from .fixed_prompts import PromptEnsemble, ensemble_feature, prompt_sentences, resolve_ensemble
from .prompt_checkpoint import PromptCheckpoint

LEARNED_CLASS_NAME = "object"  # the learned features are class-agnostic: "{state} object" sentences
INIT_STD = 0.02


class LearnablePrompts(nn.Module):
    """`n_prompt` vectors of the text width for "normal" and for "abnormal", N(0, 0.02^2).

    Each sentence of the state x template ensemble, filled with the class name `object`,
    carries its state's vectors (placed by `method`, see `insert_prompt_embeddings`). Optional
    deep prompts: `d_deep` sets of `n_deep` vectors, entering text layers 1 .. d_deep.
    """

    def __init__(self, width: int, n_prompt: int = 8, method: str = "concat", n_deep: int = 0, d_deep: int = 0):
        super().__init__()
        if method not in PROMPT_METHODS:
            raise ValueError(f"prompt_method must be one of {', '.join(PROMPT_METHODS)} (or 'none' for no learnable prompts), got {method!r}")
        if n_prompt < 1:
            raise ValueError(f"n_prompt must be at least 1, got {n_prompt}")
        self.method = method
        self.normal = nn.Parameter(torch.randn(n_prompt, width) * INIT_STD)
        self.abnormal = nn.Parameter(torch.randn(n_prompt, width) * INIT_STD)
        use_deep = n_deep > 0 and d_deep > 0
        self.deep = nn.ParameterList(nn.Parameter(torch.randn(n_deep, width) * INIT_STD) for _ in range(d_deep)) if use_deep else None
        self._tokens: dict[tuple, tuple[Tensor, Tensor, int]] = {}

    @property
    def n_prompt(self) -> int:
        return self.normal.shape[0]

    def _sentence_tokens(self, tips: TipsModel, ensemble: PromptEnsemble, device) -> tuple[Tensor, Tensor, int]:
        """Token ids and paddings of the normal then abnormal sentences, tokenised once per ensemble."""
        key = (ensemble, str(device))
        if key not in self._tokens:
            normal, abnormal = prompt_sentences(ensemble, LEARNED_CLASS_NAME)
            ids, paddings = tips.tokenizer(normal + abnormal)
            self._tokens[key] = (ids.to(device), paddings.to(device), len(normal))
        return self._tokens[key]

    def text_features(self, tips: TipsModel, ensemble: str | PromptEnsemble = "industrial") -> Tensor:
        """Learned text features [2, D] (normal, abnormal), float32, each the unit-length ensemble mean.

        Differentiable with respect to the prompt vectors; the text tower stays frozen. Both
        states are encoded in one batch, each sentence with its own state's vectors.
        """
        ensemble = resolve_ensemble(ensemble)
        ids, paddings, n_normal = self._sentence_tokens(tips, ensemble, self.normal.device)
        n_abnormal = ids.shape[0] - n_normal
        prompts = torch.cat([self.normal.expand(n_normal, -1, -1), self.abnormal.expand(n_abnormal, -1, -1)])
        embeddings = tips.text(ids, paddings, prompts=prompts, prompt_method=self.method, deep_prompts=self.deep).float()
        return torch.stack([ensemble_feature(embeddings[:n_normal]), ensemble_feature(embeddings[n_normal:])])

    def to_checkpoint(self, settings: dict) -> PromptCheckpoint:
        deep = torch.stack([p.detach() for p in self.deep]) if self.deep is not None else None
        return PromptCheckpoint(normal=self.normal.detach().clone(), abnormal=self.abnormal.detach().clone(), settings=settings, deep=deep)

    def load_checkpoint(self, checkpoint: PromptCheckpoint, where: str) -> None:
        """Copy learned vectors in; the counts must equal this module's (the width is checked on load)."""
        if tuple(checkpoint.normal.shape) != tuple(self.normal.shape):
            raise ValueError(
                f"{where}: prompts are {tuple(checkpoint.normal.shape)} (n_prompt x width) but the model has "
                f"{tuple(self.normal.shape)}; set n_prompt={checkpoint.n_prompt} to use this checkpoint"
            )
        method = checkpoint.settings.get("prompt_method")
        if method is not None and method != self.method:
            raise ValueError(f"{where}: prompts were learned with prompt_method={method!r} but the model uses {self.method!r}; set prompt_method={method!r}")
        with torch.no_grad():
            self.normal.copy_(checkpoint.normal)
            self.abnormal.copy_(checkpoint.abnormal)
            if checkpoint.deep is not None:
                if self.deep is None or tuple(checkpoint.deep.shape) != (len(self.deep), *self.deep[0].shape):
                    raise ValueError(f"{where}: holds deep prompts of shape {tuple(checkpoint.deep.shape)}; set d_deep and n_deep to match")
                for param, value in zip(self.deep, checkpoint.deep):
                    param.copy_(value)
