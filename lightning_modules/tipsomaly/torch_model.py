"""The Tipsomaly method as a plain `nn.Module`: frozen TIPS + fixed and learnable prompts -> scores and maps.

Three parts, each usable alone: the frozen backbone (`tips`, with an optional feature cache),
the text-feature bank (`text_bank`: fixed and learned prompt features as explicit state) and the
tensor-only scorer (`scorer`). The LightningModule (`lightning_model.py`) only adds steps, the
optimiser, metrics and logging around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from datamodules.fingerprint import image_fingerprint
from lightning_modules.tips import TipsModel
from lightning_modules.tips.vision_tower import PATCH_SIZE

from .feature_cache import FeatureCache, compute_precision
from .learnable_prompts import LearnablePrompts
from .scorer import IMAGE_TOKENS, AnomalyScorer, ScorerOutput
from .scoring import normalize_text, normalize_visual, state_probabilities, upsample_probabilities
from .text_features import TextFeatureBank

TipsomalyOutput = ScorerOutput  # pred_score, score_first, score_second, anomaly_map, max_pixel_score, patch_probabilities

_FILE = "lightning_modules/tipsomaly/torch_model.py"


@dataclass
class TrainingOutput:
    """Probabilities the losses read: global [B, 2 tokens, 2 states]; pixel [B, 2, H, W] (upsampled, not
    smoothed); text_features [B or 1, 2, D] the learned features."""

    global_probabilities: Tensor
    pixel_probabilities: Tensor
    text_features: Tensor


def check_images(images: Tensor, prompt_names, where: str = _FILE) -> None:
    """Refuse what would be scored wrongly without a word: not [B, 3, H, W] float in [0, 1], or names not one per image.

    Reads the value range, so it synchronises with the device: for user calls, not for the training loop.
    """
    if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"{where}: images must be a float tensor [B, 3, H, W] in [0, 1], got {shape}; add a batch dimension or convert to RGB")
    if not images.is_floating_point():
        raise ValueError(f"{where}: images are {images.dtype}, expected float in [0, 1]; convert with images.float() / 255")
    low, high = (float(v) for v in images.aminmax())
    if not (low == low and high == high) or low < 0 or high > 1:  # NaN compares unequal to itself
        raise ValueError(f"{where}: image values span [{low:.4g}, {high:.4g}], expected [0, 1]; divide 0-255 images by 255 and remove NaN")
    if isinstance(prompt_names, str) or not all(isinstance(name, str) for name in prompt_names):
        raise ValueError(f"{where}: class names must be a list of strings, one per image, got {prompt_names!r}; e.g. ['bottle'] * len(images)")
    if len(prompt_names) != images.shape[0]:
        raise ValueError(f"{where}: {images.shape[0]} images but {len(prompt_names)} class names; give one class name per image")


def _invalidate_learned_after_load(module: "TipsomalyModel", incompatible_keys) -> None:
    module.text_bank.invalidate_learned()  # a module-level function: hooks must pickle for DDP spawn


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
        self.prompts = None if prompt_method == "none" else LearnablePrompts(tips.text_width, n_prompt, prompt_method, n_deep, d_deep)
        # False until prompts are trained or loaded: random prompts must not score anything.
        self.register_buffer("prompts_learned", torch.tensor(False))
        self.decoupled = decoupled
        self.text_bank = TextFeatureBank(tips, self.prompts, fixed_prompts)
        self.scorer = AnomalyScorer(tips.temperature, image_token, local_to_global, sigma)
        self.feature_cache = feature_cache or FeatureCache("off")
        # loading a state dict replaces the prompt vectors in place: cached learned features are stale then
        self.register_load_state_dict_post_hook(_invalidate_learned_after_load)

    # -- features ---------------------------------------------------------------------------
    def visual_features(
        self, images: Tensor, fingerprints: list[str] | None = None, use_cache: bool = True, check_range: bool = True
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Backbone tokens (first [B, D], second [B, D], patches [B, N, D]) of images [B, 3, H, W] in [0, 1],
        without a graph. With the feature cache on (and `use_cache`), served from it by content
        fingerprint (computed here when the batch brings none)."""

        def compute(rows):
            with torch.no_grad():
                return self.tips.encode_image(images[rows], check_range=check_range)

        if self.feature_cache.mode == "off" or not use_cache:
            return compute(slice(None))
        if fingerprints is None:
            fingerprints = [image_fingerprint(image) for image in images]
        precision = compute_precision(images.device.type, self.tips.vision.cls_token.dtype)
        return self.feature_cache.lookup(list(fingerprints), precision, images.device, compute)

    @property
    def uses_learned_prompts(self) -> bool:
        return self.prompts is not None and bool(self.prompts_learned)

    def text_features(self, prompt_names: list[str], fixed_prompts=None) -> tuple[Tensor, Tensor]:
        """(image_text, pixel_text), each [B or 1, 2, D]: which features score the image and the pixels."""
        fixed = self.text_bank.fixed(prompt_names, fixed_prompts)
        if not self.uses_learned_prompts:
            return fixed, fixed
        count = 1 if fixed_prompts is None or isinstance(fixed_prompts, str) else len(prompt_names)
        learned = self.text_bank.learned(fixed_prompts, count)
        return (fixed, learned) if self.decoupled else (learned, learned)

    # -- inference ----------------------------------------------------------------------------
    def forward(
        self,
        images: Tensor,
        prompt_names: list[str],
        fixed_prompts=None,
        fingerprints: list[str] | None = None,
        check: bool = True,
        use_cache: bool = True,
        few_shot=None,
    ) -> TipsomalyOutput:
        """images [B, 3, H, W] float in [0, 1], H and W multiples of 14; prompt_names: B strings (the class words).

        fixed_prompts: the prompt family for the batch, or one per image (default: the model's).
        check: validate dtype, range and names first (one device sync; the training loop skips it).
        use_cache: whether the feature cache (when on) may serve and store these images.
        few_shot: None (zero-shot), or a hook (ScorerOutput, patch tokens [B, N, D]) -> ScorerOutput that folds
            in the few-shot map (`few_shot.FewShotMemory.for_batch`).
        """
        if check:
            check_images(images, prompt_names)
        first, second, patches = self.visual_features(images, fingerprints, use_cache, check_range=check)
        image_text, pixel_text = self.text_features(list(prompt_names), fixed_prompts)
        out = self.scorer(first, second, patches, image_text, pixel_text, tuple(images.shape[-2:]))
        return out if few_shot is None else few_shot(out, patches)  # few-shot mode (few_shot.py)

    # -- training -----------------------------------------------------------------------------
    def training_forward(self, images: Tensor, fixed_prompts=None, fingerprints: list[str] | None = None) -> TrainingOutput:
        """What the prompt-learning losses need; both global tokens and the pixel map use the learned features
        (of each image's prompt family when `fixed_prompts` gives one per image)."""
        if self.prompts is None:
            raise ValueError("prompt_method='none' has no learnable prompts to train; choose concat, sumate or entire_learnable")
        first, second, patches = self.visual_features(images, fingerprints, check_range=False)  # our loaders' images
        count = 1 if fixed_prompts is None or isinstance(fixed_prompts, str) else images.shape[0]
        learned = self.text_bank.learned(fixed_prompts, count)
        size = tuple(images.shape[-2:])
        temperature = self.scorer.temperature
        with torch.autocast(device_type=images.device.type, enabled=False):
            text = normalize_text(learned)
            global_probabilities = torch.cat(
                [state_probabilities(normalize_visual(token[:, None]), text, temperature) for token in (first, second)], dim=1
            )
            patch_probabilities = state_probabilities(normalize_visual(patches), text, temperature)
            pixel = upsample_probabilities(patch_probabilities, (size[0] // PATCH_SIZE, size[1] // PATCH_SIZE), size)
        return TrainingOutput(global_probabilities=global_probabilities, pixel_probabilities=pixel, text_features=learned)

    def prompts_changed(self) -> None:
        """Mark the prompts as learned and drop the cached learned features (after an optimiser step or a load)."""
        self.prompts_learned.fill_(True)
        self.text_bank.invalidate_learned()

    def _apply(self, fn, *args, **kwargs):
        # cached learned features live where they were computed; recompute after a move
        self.text_bank.invalidate_learned()
        return super()._apply(fn, *args, **kwargs)
