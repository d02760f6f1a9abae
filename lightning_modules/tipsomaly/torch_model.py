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
from lightning_modules.backbones.protocol import patch_size_of, scoring_rule_of, weight_dtype
from lightning_modules.image_contract import check_image_batch
from lightning_modules.tips import TipsModel

from .feature_cache import FeatureCache, compute_precision
from .learnable_prompts import LearnablePrompts
from .provenance import model_provenance
from .scorer import AnomalyScorer, ScorerOutput
from .settings import TipsomalySettings, check_image_grid
from .text_feature_cache import TextFeatureCache
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
    """Refuse what would be scored wrongly without a word: not [B, 3, H, W] float in [0, 1] (the one image contract,
    `lightning_modules/image_contract.py`), or names not one per image.

    Reads the value range, so it synchronises with the device: for user calls, not for the training loop.
    """
    check_image_batch(images, where)
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
        settings: TipsomalySettings | None = None,
        feature_cache: FeatureCache | None = None,
        text_cache: TextFeatureCache | None = None,
        **changes,
    ):
        """settings: what the model scores with (default: the paper's); `changes` replace single fields of it,
        e.g. `TipsomalyModel(tips, prompt_method="none")`. text_cache: fixed-prompt embeddings kept across runs."""
        super().__init__()
        settings = (settings or TipsomalySettings()).replace(**changes)
        self.settings = settings
        self.tips = tips
        self.prompts = (
            None if settings.prompt_method == "none"
            else LearnablePrompts(tips.text_width, settings.n_prompt, settings.prompt_method, settings.n_deep, settings.d_deep)
        )
        # False until prompts are trained or loaded: random prompts must not score anything.
        self.register_buffer("prompts_learned", torch.tensor(False))
        self.decoupled = settings.decoupled
        self.text_bank = TextFeatureBank(tips, self.prompts, settings.fixed_prompts, text_cache)
        check_image_grid(settings.image_size, patch_size_of(tips))
        self.scorer = AnomalyScorer(scoring_rule_of(tips), settings.image_token, settings.local_to_global, settings.sigma, patch_size_of(tips))
        self.feature_cache = feature_cache or FeatureCache("off")
        # loading a state dict replaces the prompt vectors in place: cached learned features are stale then
        self.register_load_state_dict_post_hook(_invalidate_learned_after_load)

    def provenance(self, image_size: int | None = None) -> dict:
        """What scores now: backbone identity, size and resize, the live prompt tensors' sha256, prompt family,
        scoring settings (see provenance.py). image_size: the input side when the settings leave it open."""
        return model_provenance(self, image_size)

    # -- features ---------------------------------------------------------------------------
    def visual_features(
        self, images: Tensor, fingerprints: list[str] | None = None, use_cache: bool = False, check_range: bool = True
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
        precision = compute_precision(images.device.type, weight_dtype(self.tips))
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
        use_cache: bool = False,
        few_shot=None,
    ) -> TipsomalyOutput:
        """images [B, 3, H, W] float in [0, 1], H and W multiples of 14; prompt_names: B strings (the class words).

        fixed_prompts: the prompt family for the batch, or one per image (default: the model's).
        check: validate dtype, range and names first (one device sync; the training loop skips it).
        use_cache: whether the feature cache (when on) may serve and store these images; off by default: plain
            inference neither fills the cache nor copies the images to the host to hash them.
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
        first, second, patches = self.visual_features(images, fingerprints, use_cache=True, check_range=False)  # our loaders' images
        count = 1 if fixed_prompts is None or isinstance(fixed_prompts, str) else images.shape[0]
        learned = self.text_bank.learned(fixed_prompts, count)
        global_probabilities, pixel = self.scorer.training_probabilities(first, second, patches, learned, tuple(images.shape[-2:]))
        return TrainingOutput(global_probabilities=global_probabilities, pixel_probabilities=pixel, text_features=learned)

    def prompts_changed(self) -> None:
        """Mark the prompts as learned and drop the cached learned features (after an optimiser step or a load)."""
        self.prompts_learned.fill_(True)
        self.text_bank.invalidate_learned()

    def _apply(self, fn, *args, **kwargs):
        # cached learned features live where they were computed; recompute after a move
        self.text_bank.invalidate_learned()
        return super()._apply(fn, *args, **kwargs)
