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
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from lightning_modules.tips import TipsModel, TipsSpec
from lightning_modules.tips.vision_tower import PATCH_SIZE
from lightning_modules.tipsomaly.few_shot import DETECTOR_SET, detector_memory, reference_files, scoring_record
from lightning_modules.tipsomaly.fixed_prompts import resolve_ensemble
from lightning_modules.tipsomaly.prompt_checkpoint import load_prompt_checkpoint
from lightning_modules.tipsomaly.torch_model import TipsomalyModel

from .image_input import ModelInput, prepare
from .overlay import overlay as make_overlay
from .thresholds import Provenance, Thresholds, ThresholdsError, check_provenance, file_sha256, load_thresholds

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


def backbone_label(tips: TipsModel) -> str:
    """A stable name of the backbone's weights: the official file stem (`tips_v2_oss_l14`), however it was named."""
    if tips.files is None:
        return "unknown"
    return Path(tips.files.vision).name.removesuffix(".npz").removesuffix("_vision")


def _load_backbone(backbone, device) -> TipsModel:
    if isinstance(backbone, TipsModel):
        return backbone.to(device)
    if isinstance(backbone, dict):
        backbone = TipsSpec(**backbone)
    if not isinstance(backbone, TipsSpec):
        raise ValueError(f"detector.py: backbone must be a TipsSpec, its fields as a dict, or a loaded TipsModel, got {type(backbone).__name__}")
    return backbone.load(device=device)


class Detector:
    """A Tipsomaly model fixed to one product (class name) for single images and folders; no gradients, eval mode.

    Build it with `Detector.load`; call it on one image (-> `Detection`) or a list (-> list of `Detection`).
    """

    def __init__(
        self,
        model: TipsomalyModel,
        class_name: str,
        image_size: int,
        provenance: Provenance,
        thresholds: Thresholds | None = None,
        fixed_prompts: str = "industrial",
        batch_size: int = 8,
    ):
        if image_size % PATCH_SIZE:
            raise ValueError(f"detector.py: image_size must be a multiple of {PATCH_SIZE}, got {image_size}; e.g. {round(image_size / PATCH_SIZE) * PATCH_SIZE}")
        self.model = model.eval()
        self.class_name = class_name
        self.image_size = image_size
        self.provenance = provenance
        self.fixed_prompts = fixed_prompts
        self.batch_size = batch_size
        self.thresholds = None
        self.few_shot = None  # a FewShotMemory in few-shot mode (Detector.load(reference_dir=...))
        if thresholds is not None:
            self.set_thresholds(thresholds)

    @property
    def device(self) -> torch.device:
        return self.model.tips.vision.cls_token.device

    @classmethod
    def load(
        cls,
        prompt_file: str | os.PathLike | None,
        thresholds: str | os.PathLike | Thresholds | None = None,
        backbone: TipsSpec | dict | TipsModel | None = None,
        class_name: str | None = None,
        image_size: int | None = None,
        fixed_prompts: str | None = None,
        image_token: str = "first",
        local_to_global: bool = True,
        decoupled: bool = True,
        sigma: float = 4.0,
        device: str | torch.device = "cpu",
        batch_size: int = 8,
        reference_dir: str | os.PathLike | None = None,
        few_shot_weight: float = 0.5,
        few_shot_only: bool = False,
        few_shot_rotations: bool = False,
    ) -> "Detector":
        """A detector from a prompt file (ours or the reference's; None = fixed prompts only).

        class_name: the product's name as the prompts say it ("metal_nut" or "metal nut"); taken from
        the thresholds when not given. image_size and fixed_prompts default to the prompt file's
        settings (else 518 and "industrial"). The scoring options are the model's (paper defaults).
        reference_dir: a folder of normal images of the product: few-shot mode (tipsomaly/few_shot.py) with
        them all as references, combined by few_shot_weight / few_shot_only (rotations: also turned copies).
        """
        if backbone is None:
            raise ValueError("detector.py: give backbone=TipsSpec(name=..., checkpoint_dir=...) (or explicit paths); tipsomaly never downloads weights")
        loaded = load_thresholds(thresholds) if isinstance(thresholds, (str, os.PathLike)) else thresholds
        class_name = class_name or (loaded.class_name if loaded is not None else None)
        if not class_name:
            raise ValueError("detector.py: give class_name (the product, e.g. 'bottle'), or thresholds that name it")
        tips = _load_backbone(backbone, device)
        checkpoint, settings = None, {}
        if prompt_file is not None:
            checkpoint = load_prompt_checkpoint(prompt_file, expected_width=tips.text_width)
            settings = checkpoint.settings
        image_size = int(image_size or settings.get("image_size") or PAPER_IMAGE_SIZE)
        fixed_prompts = fixed_prompts or settings.get("fixed_prompts") or "industrial"
        resolve_ensemble(fixed_prompts)
        deep = checkpoint.deep if checkpoint is not None else None
        model = TipsomalyModel(
            tips,
            fixed_prompts=fixed_prompts,
            prompt_method=(settings.get("prompt_method") or "concat") if checkpoint is not None else "none",
            n_prompt=checkpoint.n_prompt if checkpoint is not None else 8,
            n_deep=int(deep.shape[1]) if deep is not None else 0,
            d_deep=int(deep.shape[0]) if deep is not None else 0,
            image_token=image_token,
            local_to_global=local_to_global,
            decoupled=decoupled,
            sigma=sigma,
        ).to(device)
        if checkpoint is not None:
            model.prompts.load_checkpoint(checkpoint, str(prompt_file))
            model.prompts_changed()
        few_shot = None  # few-shot mode (few_shot.py): one memory bank from the reference images
        if reference_dir is not None:
            paths = reference_files(reference_dir)
            images = torch.stack([prepare(str(p), image_size).image for p in paths]).to(device)
            encode = lambda batch, fingerprints: model.visual_features(batch, fingerprints, use_cache=False)[2]  # noqa: E731
            few_shot = detector_memory(encode, images, paths, class_name, few_shot_weight, few_shot_only, few_shot_rotations, sigma)
        scoring = {**scoring_settings(fixed_prompts, image_token, local_to_global, decoupled, sigma), "few_shot": scoring_record(few_shot)}
        provenance = Provenance(
            backbone=backbone_label(tips),
            image_size=image_size,
            prompt_file=Path(prompt_file).name if prompt_file is not None else "",
            prompt_sha256=file_sha256(prompt_file) if prompt_file is not None else "",
            scoring=scoring,
        )
        detector = cls(model, class_name, image_size, provenance, loaded, fixed_prompts, batch_size)
        detector.few_shot = few_shot
        return detector

    def set_thresholds(self, thresholds: Thresholds | str | os.PathLike) -> None:
        """Use these thresholds; refused when they belong to another backbone, size, prompt file, scoring or class."""
        where = str(thresholds) if isinstance(thresholds, (str, os.PathLike)) else "thresholds"
        if isinstance(thresholds, (str, os.PathLike)):
            thresholds = load_thresholds(thresholds)
        check_provenance(thresholds, self.provenance, where)
        if class_words(thresholds.class_name) != class_words(self.class_name):
            raise ThresholdsError(
                f"{where}: thresholds are for class {thresholds.class_name!r} but the detector inspects {self.class_name!r}; "
                "calibrate this class, or load the thresholds of it"
            )
        self.thresholds = thresholds

    # -- inference ------------------------------------------------------------------------------
    @torch.no_grad()
    def score_inputs(self, inputs: Sequence[ModelInput]) -> tuple[torch.Tensor, torch.Tensor]:
        """(pred_score [B], anomaly_map [B, S, S]) on the CPU, float32, for prepared inputs."""
        images = torch.stack([item.image for item in inputs]).to(self.device)
        few_shot = self.few_shot.for_batch([DETECTOR_SET] * len(inputs), [self.class_name] * len(inputs)) if self.few_shot else None
        out = self.model(images, [self.class_name] * len(inputs), fixed_prompts=self.fixed_prompts, few_shot=few_shot)
        return out.pred_score.float().cpu(), out.anomaly_map.float().cpu()

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


def scoring_settings(fixed_prompts: str, image_token: str, local_to_global: bool, decoupled: bool, sigma: float) -> dict:
    """The settings that change a score's scale, as stored with thresholds and checked against a detector."""
    return {
        "fixed_prompts": fixed_prompts,
        "image_token": image_token,
        "local_to_global": bool(local_to_global),
        "decoupled": bool(decoupled),
        "sigma": float(sigma),
    }
