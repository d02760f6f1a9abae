"""`Detector`: learned prompts + optional thresholds -> score, decision and anomaly map for any image.

    detector = Detector.load("prompts/learnable_prompts_epoch2.pt", thresholds="prompts/thresholds_bottle.json",
                             backbone=TipsSpec(name="tips-v2-l14", checkpoint_dir="checkpoints"))
    result = detector("part_0042.png", overlay=True)
    result.score, result.decision, result.anomaly_map.shape   # float, True/False/None, the image's own (H, W)

The model sees every image at its S x S input size (see `image_input.py` for the accepted kinds
and their conversions); the anomaly map is resized back to the image's own resolution.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from lightning_modules.tips import TipsModel, TipsSpec
from datamodules.class_names import prompt_class_name
from lightning_modules.backbones import BackboneSpec, SiglipSpec, backbone_patch_size, identity_of, load_backbone, patch_size_of
from lightning_modules.tipsomaly.few_shot import DETECTOR_SET, check_few_shot_arguments, detector_memory, reference_files, scoring_record
from lightning_modules.tipsomaly.prompt_checkpoint import load_prompt_checkpoint
from lightning_modules.tipsomaly.settings import TipsomalySettings
from lightning_modules.tipsomaly.text_feature_cache import TextFeatureCache
from lightning_modules.tipsomaly.torch_model import TipsomalyModel

from .image_input import ModelInput, prepare
from .overlay import overlay as make_overlay
from .thresholds import Thresholds, ThresholdsError, check_provenance, load_thresholds

PAPER_IMAGE_SIZE = 518


@dataclass
class Detection:
    """One image's result.

    score: the image anomaly score (`pred_score`: [0, 2] with local-to-global, else [0, 1]).
    decision: True anomalous / False normal (score >= the image threshold), None without thresholds.
    anomaly_map: float32 [H, W] in [0, 1] at the image's own resolution.
    anomalous_pixels: bool [H, W] (map >= the map threshold), None without thresholds.
    overlay: the image with the map and the flagged region drawn on it, when asked for.
    """

    score: float
    decision: bool | None
    anomaly_map: np.ndarray
    anomalous_pixels: np.ndarray | None = None
    overlay: Image.Image | None = None
    image_path: str | None = None
    class_name: str = ""


def _load_backbone(backbone, device) -> TipsModel:
    if isinstance(backbone, torch.nn.Module):  # a loaded TipsModel or another backbone (lightning_modules/backbones)
        return backbone.to(device)
    if not isinstance(backbone, (dict, TipsSpec, BackboneSpec, SiglipSpec)):
        raise ValueError(f"detector.py: backbone must be a TipsSpec, its fields as a dict, or a loaded TipsModel, got {type(backbone).__name__}")
    return load_backbone(backbone, device=device)  # the kind read from the files (TIPS or SigLIP)


class Detector:
    """A Tipsomaly model fixed to one product (class name) for single images and folders; no gradients, eval mode.

    Build it with `Detector.load`; call it on one image (-> `Detection`) or a list (-> list of `Detection`).
    The model's settings (`model.settings`) give the input size and prompt family; `provenance` is the model's own.
    """

    def __init__(self, model: TipsomalyModel, class_name: str, thresholds: Thresholds | None = None, batch_size: int = 8,
                 few_shot=None):
        """few_shot: a `FewShotMemory` of the product's reference images (few-shot mode), None for zero-shot."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"detector.py: batch_size={batch_size!r}; expected an integer >= 1 (images scored at a time), e.g. 8")
        if not isinstance(class_name, str) or not class_name.strip():
            raise ValueError(f"detector.py: class_name={class_name!r}; expected the product's name, e.g. 'bottle'")
        if model.settings.image_size is None:
            raise ValueError("detector.py: the model's settings leave image_size open; give TipsomalySettings(image_size=...)")
        self.model = model.eval()
        self.few_shot = few_shot
        self.class_name = class_name
        self.batch_size = batch_size
        self.thresholds = None
        if thresholds is not None:
            self.set_thresholds(thresholds)

    @property
    def image_size(self) -> int:
        return int(self.model.settings.image_size)

    @property
    def fixed_prompts(self) -> str:
        return self.model.settings.fixed_prompts

    @property
    def prompt_name(self) -> str:
        """The class as the sentences say it (`metal_nut` -> `metal nut`, the datasets' default rule)."""
        return prompt_class_name("", self.class_name)

    @property
    def provenance(self) -> dict:
        """What scores (`TipsomalyModel.provenance`, with the few-shot references): compared with any thresholds given."""
        return {**self.model.provenance(), "few_shot": scoring_record(self.few_shot)}

    @property
    def device(self) -> torch.device:
        return next(self.model.tips.parameters()).device

    @classmethod
    def load(
        cls,
        prompt_file: str | os.PathLike | None,
        thresholds: str | os.PathLike | Thresholds | None = None,
        backbone: TipsSpec | dict | TipsModel | None = None,
        class_name: str | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 8,
        text_cache: TextFeatureCache | bool = True,
        reference_dir: str | os.PathLike | None = None,
        few_shot_weight: float = 0.5,
        few_shot_only: bool = False,
        few_shot_rotations: bool = False,
        **settings,
    ) -> "Detector":
        """A detector from a prompt file (ours or the reference's; None = fixed prompts only).

        class_name: the product's name as the prompts say it ("metal_nut" or "metal nut"); taken from
        the thresholds when not given. settings: fields of `TipsomalySettings` (image_size, resize,
        fixed_prompts, image_token, local_to_global, decoupled, sigma); image_size, resize and fixed_prompts
        default to the prompt file's (else 518, "reference", "industrial"), the rest to the paper's.
        text_cache: keep fixed-prompt embeddings across runs (True: the user's cache folder, see
        text_feature_cache.py; False: encode them in every run; or a TextFeatureCache).
        reference_dir: a folder of normal images of the product: few-shot mode (tipsomaly/few_shot.py) with
        them all as references, combined by few_shot_weight / few_shot_only (rotations: also turned copies).
        """
        if backbone is None:
            raise ValueError("detector.py: give backbone=TipsSpec(name=..., checkpoint_dir=...) (or explicit paths); tipsomaly never downloads weights")
        unknown = sorted(set(settings) - set(TipsomalySettings.fields()))
        if unknown:
            raise ValueError(f"detector.py: unknown setting(s) {unknown}; give fields of TipsomalySettings: {', '.join(TipsomalySettings.fields())}")
        if settings.get("image_size") is not None:  # on the backbone's patch grid, read before any weights load
            size = settings["image_size"]
            patch = patch_size_of(backbone) if isinstance(backbone, torch.nn.Module) else backbone_patch_size(backbone)[1]
            if isinstance(size, bool) or not isinstance(size, int) or size < patch or size % patch:
                raise ValueError(f"detector.py: image_size={size!r}; expected a positive multiple of {patch} (the backbone's patch size; "
                                 "518 for TIPS as in the paper), or None for the prompt file's")
        loaded = load_thresholds(thresholds) if isinstance(thresholds, (str, os.PathLike)) else thresholds
        class_name = class_name or (loaded.class_name if loaded is not None else None)
        if not class_name:
            raise ValueError("detector.py: give class_name (the product, e.g. 'bottle'), or thresholds that name it")
        tips = _load_backbone(backbone, device)
        checkpoint, recorded = None, {}
        if prompt_file is not None:
            checkpoint = load_prompt_checkpoint(prompt_file, expected_width=tips.text_width, backbone=identity_of(tips))
            recorded = checkpoint.settings
        given = {key: value for key, value in settings.items() if value is not None}
        defaults = {
            "image_size": int(recorded.get("image_size") or PAPER_IMAGE_SIZE),
            "resize": recorded.get("resize") or "reference",
            "fixed_prompts": recorded.get("fixed_prompts") or "industrial",
        }
        if checkpoint is not None:
            deep = checkpoint.deep
            defaults.update(
                prompt_method=recorded.get("prompt_method") or "concat", n_prompt=checkpoint.n_prompt,
                n_deep=int(deep.shape[1]) if deep is not None else 0, d_deep=int(deep.shape[0]) if deep is not None else 0,
            )
        else:
            defaults["prompt_method"] = "none"
        cache = TextFeatureCache.default() if text_cache is True else (text_cache or None)
        model = TipsomalyModel(tips, TipsomalySettings(**{**defaults, **given}), text_cache=cache).to(device)
        if checkpoint is not None:
            model.prompts.load_checkpoint(checkpoint, str(prompt_file))
            model.prompts_changed()
        few_shot = None  # few-shot mode (few_shot.py): one memory bank from the reference images
        if reference_dir is not None:
            check_few_shot_arguments(few_shot_weight, few_shot_only, few_shot_rotations)
            paths = reference_files(reference_dir)
            size = model.settings.image_size
            images = torch.stack([prepare(str(p), size).image for p in paths]).to(device)
            encode = lambda batch, fingerprints: model.visual_features(batch, fingerprints, use_cache=False)[2]  # noqa: E731
            few_shot = detector_memory(encode, images, paths, class_name, few_shot_weight, few_shot_only, few_shot_rotations, model.settings.sigma)
        return cls(model, class_name, loaded, batch_size, few_shot=few_shot)

    def set_thresholds(self, thresholds: Thresholds | str | os.PathLike) -> None:
        """Use these thresholds; refused when they belong to another backbone, size, prompt file, scoring or class."""
        where = str(thresholds) if isinstance(thresholds, (str, os.PathLike)) else "thresholds"
        if isinstance(thresholds, (str, os.PathLike)):
            thresholds = load_thresholds(thresholds)
        check_provenance(thresholds, self.provenance, where)  # the one rule: provenance.compare_provenance
        if class_words(thresholds.class_name) != class_words(self.class_name):
            raise ThresholdsError(
                f"{where}: thresholds are for class {thresholds.class_name!r} but the detector inspects {self.class_name!r}; "
                "calibrate this class, or load the thresholds of it"
            )
        self.thresholds = thresholds

    # -- inference ------------------------------------------------------------------------------
    @torch.no_grad()
    def score_inputs(self, inputs: Sequence[ModelInput]) -> tuple[torch.Tensor, torch.Tensor]:
        """(pred_score [B], anomaly_map [B, S, S]) on the CPU, float32, for prepared inputs.

        The model's forward checks the images (the one image contract); a NaN score is refused, never decided on."""
        images = torch.stack([item.image for item in inputs]).to(self.device)
        few_shot = self.few_shot.for_batch([DETECTOR_SET] * len(inputs), [self.class_name] * len(inputs)) if self.few_shot else None
        out = self.model(images, [self.prompt_name] * len(inputs), fixed_prompts=self.fixed_prompts, few_shot=few_shot)
        scores, maps = out.pred_score.float().cpu(), out.anomaly_map.float().cpu()
        check_finite_scores(scores, maps, [item.path or f"image {i}" for i, item in enumerate(inputs)], "detector.py")
        return scores, maps

    def _detection(self, item: ModelInput, score: float, square_map: torch.Tensor, overlay: bool) -> Detection:
        full = F.interpolate(square_map[None, None], size=item.size, mode="bilinear", align_corners=False)[0, 0]
        anomaly_map = full.clamp(0, 1).numpy()
        decision = pixels = None
        if self.thresholds is not None:
            decision = bool(score >= self.thresholds.image_threshold)
            pixels = anomaly_map >= self.thresholds.map_threshold
        picture = make_overlay(item.rgb, anomaly_map, pixels) if overlay else None
        return Detection(score, decision, anomaly_map, pixels, picture, item.path, self.class_name)

    def __call__(self, images, overlay: bool = False) -> Detection | list[Detection]:
        """One image (path, PIL image, numpy uint8 [H, W, 3], tensor [3, H, W]) -> Detection; a list, or a
        tensor [B, 3, H, W], -> list of Detection, scored `batch_size` at a time."""
        single = not isinstance(images, (list, tuple)) and not (isinstance(images, torch.Tensor) and images.dim() == 4)
        items = [images] if single else list(images)
        results: list[Detection] = []
        for start in range(0, len(items), self.batch_size):
            chunk = [prepare(image, self.image_size) for image in items[start : start + self.batch_size]]
            scores, maps = self.score_inputs(chunk)
            results += [self._detection(item, float(s), m, overlay) for item, s, m in zip(chunk, scores, maps)]
        return results[0] if single else results


def class_words(name: str) -> str:
    """A class name compared as words: `metal_nut`, `Metal-Nut` and `metal nut` are one class."""
    return name.replace("_", " ").replace("-", " ").strip().lower()


def check_finite_scores(scores: torch.Tensor, maps: torch.Tensor, names: list[str], where: str) -> None:
    """A NaN or infinite score or map is never a decision (`nan >= t` is False: "normal"): refuse it, naming the images."""
    bad = [name for name, score, m in zip(names, scores, maps) if not (torch.isfinite(score) and torch.isfinite(m).all())]
    if bad:
        raise ValueError(f"{where}: the model gave NaN or infinite scores for {bad}; no decision is made on them. Check the model's prompt and backbone files")
