"""The Tipsomaly method as a plain `nn.Module`: frozen TIPS + fixed and learnable prompts -> scores and maps.

Usable and testable without a Trainer; the LightningModule (`lightning_model.py`) only adds
steps, the optimiser, metrics and logging around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lightning_modules.tips import TipsModel
from lightning_modules.tips.vision_tower import PATCH_SIZE

from .feature_cache import FeatureCache
from .fixed_prompts import FixedPromptFeatures, resolve_ensemble
from .learnable_prompts import LearnablePrompts
from .scoring import anomaly_map, image_score, normalize_text, normalize_visual, state_probabilities, upsample_probabilities

IMAGE_TOKENS = ("first", "second")


@dataclass
class VisualFeatures:
    """Unit-length visual features, float32: first [B, 1, D], second [B, 1, D], patches [B, N, D] on `grid`."""

    first: Tensor
    second: Tensor
    patches: Tensor
    grid: tuple[int, int]


@dataclass
class TipsomalyOutput:
    """pred_score [B] (in [0, 2] with local-to-global, else [0, 1]); anomaly_map [B, H, W] in [0, 1];
    patch_probabilities [B, N, 2] (normal, abnormal) before upsampling."""

    pred_score: Tensor
    anomaly_map: Tensor
    patch_probabilities: Tensor


@dataclass
class TrainingOutput:
    """Probabilities the losses read: global [B, 2 tokens, 2 states]; pixel [B, 2, H, W] (upsampled, not
    smoothed); text_features [2, D] the learned features."""

    global_probabilities: Tensor
    pixel_probabilities: Tensor
    text_features: Tensor


class TipsomalyModel(nn.Module):
    """Decoupled prompts and local-to-global scoring over a frozen TIPS model.

    - Image score: the `image_token` global token against the fixed prompt features of the
      image's class; with `local_to_global`, plus the maximum abnormal patch probability.
    - Anomaly map: patch tokens against the learned prompt features (decoupled), or the fixed
      features when no prompts are learned; `decoupled=False` uses the learned ones for both.
    - `prompt_method="none"` has no learnable prompts: the fixed features do everything.
    """

    def __init__(
        self,
        tips: TipsModel,
        fixed_prompts: str = "industrial",
        prompt_method: str = "concat",
        n_prompt: int = 8,
        n_deep: int = 0,
        d_deep: int = 0,
        image_token: str = "first",
        local_to_global: bool = True,
        decoupled: bool = True,
        sigma: float = 4.0,
        feature_cache: FeatureCache | None = None,
    ):
        super().__init__()
        if image_token not in IMAGE_TOKENS:
            raise ValueError(f"image_token must be 'first' (the CLS token) or 'second' (the register token), got {image_token!r}")
        self.tips = tips
        self.fixed_prompts = resolve_ensemble(fixed_prompts)
        self.prompts = None if prompt_method == "none" else LearnablePrompts(tips.text_width, n_prompt, prompt_method, n_deep, d_deep)
        # False until prompts are trained or loaded: random prompts must not score anything.
        self.register_buffer("prompts_learned", torch.tensor(False))
        self.image_token = image_token
        self.local_to_global = local_to_global
        self.decoupled = decoupled
        self.sigma = sigma
        self.feature_cache = feature_cache or FeatureCache("off")
        self._fixed: dict = {}
        self._learned_cache: dict = {}

    # -- features ---------------------------------------------------------------------------
    def visual_features(self, images: Tensor, image_paths: list[str] | None = None) -> VisualFeatures:
        """Backbone features of images [B, 3, H, W] in [0, 1], without a graph; cached per image
        file when `image_paths` are given and the feature cache is on."""
        size = tuple(images.shape[-2:])

        def compute(rows):
            with torch.no_grad():
                return self.tips.encode_image(images[rows])

        if image_paths is None:
            first, second, patches = compute(list(range(images.shape[0])))
        else:
            dtype = self.tips.vision.cls_token.dtype
            first, second, patches = self.feature_cache.lookup(image_paths, size, dtype, images.device, compute)
        grid = (size[0] // PATCH_SIZE, size[1] // PATCH_SIZE)
        return VisualFeatures(normalize_visual(first[:, None]), normalize_visual(second[:, None]), normalize_visual(patches), grid)

    def fixed_text_features(self, class_names: list[str], ensemble=None) -> Tensor:
        """[B, 2, D] unit fixed features of each image's class, encoded once per class and ensemble."""
        ensemble = resolve_ensemble(ensemble or self.fixed_prompts)
        if ensemble not in self._fixed:
            self._fixed[ensemble] = FixedPromptFeatures(self.tips.encode_text, ensemble)
        features = self._fixed[ensemble](list(class_names))
        # cached where first encoded; follow the model if it has moved since (e.g. CPU -> GPU)
        return normalize_text(features.to(self.tips.text.token_embedding.weight.device))

    def learned_text_features(self, ensemble=None) -> Tensor:
        """[1, 2, D] unit learned features. Differentiable when gradients are on; otherwise cached
        until the prompt vectors change (their in-place updates bump the version counters)."""
        ensemble = resolve_ensemble(ensemble or self.fixed_prompts)
        if torch.is_grad_enabled():
            return normalize_text(self.prompts.text_features(self.tips, ensemble))[None]
        key = (ensemble, tuple((p.data_ptr(), p._version) for p in self.prompts.parameters()))
        if key not in self._learned_cache:
            self._learned_cache = {k: v for k, v in self._learned_cache.items() if k[1] == key[1]}
            self._learned_cache[key] = normalize_text(self.prompts.text_features(self.tips, ensemble))[None]
        return self._learned_cache[key]

    @property
    def uses_learned_prompts(self) -> bool:
        return self.prompts is not None and bool(self.prompts_learned)

    # -- inference ----------------------------------------------------------------------------
    def forward(self, images: Tensor, class_names: list[str], fixed_prompts: str | None = None, image_paths: list[str] | None = None) -> TipsomalyOutput:
        """images [B, 3, S, S] in [0, 1]; class_names: B strings (the prompt class names).

        fixed_prompts: the ensemble for this batch's dataset (default: the model's).
        """
        visual = self.visual_features(images, image_paths)
        temperature = self.tips.temperature
        fixed = self.fixed_text_features(class_names, fixed_prompts)
        if self.uses_learned_prompts:
            learned = self.learned_text_features(fixed_prompts)
            image_text, pixel_text = (fixed, learned) if self.decoupled else (learned, learned)
        else:
            image_text, pixel_text = fixed, fixed
        global_token = visual.first if self.image_token == "first" else visual.second
        global_probabilities = state_probabilities(global_token, image_text, temperature)[:, 0]
        patch_probabilities = state_probabilities(visual.patches, pixel_text, temperature)
        score = image_score(global_probabilities, patch_probabilities if self.local_to_global else None)
        maps = anomaly_map(patch_probabilities, visual.grid, tuple(images.shape[-2:]), self.sigma)
        return TipsomalyOutput(pred_score=score, anomaly_map=maps, patch_probabilities=patch_probabilities)

    # -- training -----------------------------------------------------------------------------
    def training_forward(self, images: Tensor, image_paths: list[str] | None = None) -> TrainingOutput:
        """What the prompt-learning losses need; both global tokens and the pixel map use the learned features."""
        if self.prompts is None:
            raise ValueError("prompt_method='none' has no learnable prompts to train; choose concat, sumate or entire_learnable")
        visual = self.visual_features(images, image_paths)
        temperature = self.tips.temperature
        learned = self.learned_text_features()
        global_probabilities = torch.cat(
            [state_probabilities(visual.first, learned, temperature), state_probabilities(visual.second, learned, temperature)], dim=1
        )
        patch_probabilities = state_probabilities(visual.patches, learned, temperature)
        pixel = upsample_probabilities(patch_probabilities, visual.grid, tuple(images.shape[-2:]))
        return TrainingOutput(global_probabilities=global_probabilities, pixel_probabilities=pixel, text_features=learned)

    def mark_prompts_learned(self) -> None:
        self.prompts_learned.fill_(True)
