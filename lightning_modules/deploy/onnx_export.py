"""ONNX export of the image side: image tower, precomputed text features, scoring and the smoothed anomaly map.

The exported graph takes `images` float32 [B, 3, S, S] in [0, 1] (B dynamic, S fixed at export) and,
when exported for several classes, `class_index` int64 [B] (position in the class list stored in the
model's metadata). It returns `pred_score` [B] and `anomaly_map` [B, S, S] in [0, 1], the same values
as `TipsomalyModel.forward` (parity measured in `tests/deploy/test_onnx_export.py`). The text tower
and tokenizer are not in it: the fixed features of each chosen class and the learned features are
constant tensors. The position embeddings are resampled once for the export size and stored.

`OnnxDetector` runs such a file with onnxruntime and checks class names and input sizes before running.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from datamodules.atomic_files import atomic_path
from datamodules.class_names import prompt_class_name
from lightning_modules.backbones.protocol import patch_size_of
from lightning_modules.image_contract import check_image_batch
from lightning_modules.tips.vision_tower import PATCH_SIZE, TipsVisionTower
from lightning_modules.tipsomaly.few_shot import apply_few_shot, banks_for_classes, scoring_record
from lightning_modules.tipsomaly.scorer import AnomalyScorer
from lightning_modules.tipsomaly.torch_model import TipsomalyModel

METADATA_KEY = "tipsomaly"
OPSET = 18


class ExportError(ValueError):
    """An export or an exported model that cannot be used as asked; the message says why and the fix."""


class ExportableImageTower(nn.Module):
    """The TIPS image tower at one input size: the resampled position embeddings are a buffer, attention explicit.

    Same computation as `TipsVisionTower.forward` (timm's forward_features: patch embedding, position
    embeddings, [CLS, register] prefix, blocks, final norm). Explicit attention (softmax(q k^T * scale) v)
    replaces the fused kernel so any ONNX runtime can run it.
    """

    def __init__(self, vision: TipsVisionTower, image_size: int):
        super().__init__()
        grid = (image_size // PATCH_SIZE, image_size // PATCH_SIZE)
        vision = copy.deepcopy(vision).float().eval()
        for block in vision.blocks:
            block.attn.fused_attn = False
        self.patch_embed, self.blocks, self.norm_pre, self.norm = vision.patch_embed, vision.blocks, vision.norm_pre, vision.norm
        self.cls_token, self.reg_token = vision.cls_token, vision.reg_token
        self.register_buffer("pos_embed", vision.resampled_pos_embed(grid).detach().clone())

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """images [B, 3, S, S] -> first [B, D], second [B, D], patches [B, N, D] (not normalised)."""
        x = self.patch_embed(images)  # [B, rows, cols, D]
        batch, dim = x.shape[0], x.shape[-1]
        x = x.reshape(batch, -1, dim) + self.pos_embed
        x = torch.cat([self.cls_token.expand(batch, -1, -1), self.reg_token.expand(batch, -1, -1), x], dim=1)
        x = self.norm(self.blocks(self.norm_pre(x)))
        return x[:, 0], x[:, 1], x[:, 2:]


class ExportableTipsomaly(nn.Module):
    """Image side of a Tipsomaly model for a fixed list of classes and one input size S.

    image_text [C, 2, D] and pixel_text [C or 1, 2, D]: the features `TipsomalyModel.text_features`
    gives for each class (fixed / learned per its settings), stored as constants.
    """

    def __init__(self, model: TipsomalyModel, class_names: list[str], image_size: int, fixed_prompts: str | None = None, few_shot=None):
        super().__init__()
        if not class_names:
            raise ExportError("onnx_export.py: no class names to export; give the products' names, e.g. --class_names bottle")
        patch = patch_size_of(model.tips)  # the backbone's (TIPS 14, SigLIP 16)
        if image_size % patch:
            raise ExportError(f"onnx_export.py: image_size {image_size} is not a multiple of {patch}; e.g. {round(image_size / patch) * patch}")
        self.class_names = list(class_names)
        self.image_size = image_size
        own = getattr(model.tips, "exportable_image_tower", None)  # a non-TIPS backbone brings its own (SigLIP)
        self.tower = own(image_size) if own is not None else ExportableImageTower(model.tips.vision, image_size)
        with torch.no_grad():  # the classes as the sentences say them, as the Detector does (`metal_nut` -> `metal nut`)
            image_text, pixel_text = model.text_features([prompt_class_name("", name) for name in self.class_names], fixed_prompts)
        self.register_buffer("image_text", image_text.detach().float().cpu().clone())
        self.register_buffer("pixel_text", pixel_text.detach().float().cpu().clone())
        scorer = model.scorer
        self.scorer = AnomalyScorer(scorer.rule, scorer.image_token, scorer.local_to_global, scorer.sigma, scorer.patch_size)
        # few-shot mode (tipsomaly/few_shot.py): the memory bank of each class as a constant [C, M, D]
        self.few_shot = None if few_shot is None else (few_shot.weight, few_shot.only, few_shot.sigma)
        banks = None if few_shot is None else banks_for_classes(few_shot, self.class_names).detach().float().cpu().clone()
        self.register_buffer("few_shot_banks", banks)

    def forward(self, images: Tensor, class_index: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """images [B, 3, S, S] in [0, 1]; class_index int64 [B] (None: the only class) -> pred_score [B], anomaly_map [B, S, S]."""
        first, second, patches = self.tower(images)
        if class_index is None:
            image_text, pixel_text = self.image_text, self.pixel_text
        else:
            image_text = self.image_text[class_index]
            pixel_text = self.pixel_text if self.pixel_text.shape[0] == 1 else self.pixel_text[class_index]
        out = self.scorer(first, second, patches, image_text, pixel_text, (self.image_size, self.image_size))
        if self.few_shot_banks is not None:  # one block over the whole bank: the batch size is symbolic here
            out = apply_few_shot(out, patches, self.few_shot_banks, class_index, *self.few_shot, chunk=self.few_shot_banks.shape[1])
        return out.pred_score, out.anomaly_map


def export_onnx(
    model: TipsomalyModel,
    path: str | os.PathLike,
    class_names: list[str],
    image_size: int,
    fixed_prompts: str | None = None,
    metadata: dict | None = None,
    few_shot=None,
) -> Path:
    """Write the image side of `model` for `class_names` at S = image_size to `path` (.onnx); returns the path.

    metadata: plain values stored with the model next to the class names, the image size and the model's
    provenance (`model.provenance()` at this size, with the few-shot references), read back by `OnnxDetector`.
    few_shot: a detector's `FewShotMemory` (few-shot mode), whose banks of `class_names` become constants of the
    graph. Written whole or not at all.
    """
    path = Path(path)
    provenance = {**model.provenance(image_size=image_size), "few_shot": scoring_record(few_shot)}
    exportable = ExportableTipsomaly(model.cpu().float(), class_names, image_size, fixed_prompts, few_shot).eval()
    # warm the Gaussian blur's matrix cache outside the trace, so the trace finds real tensors there
    example = torch.rand(2, 3, image_size, image_size)
    multi = len(class_names) > 1
    args = (example, torch.zeros(2, dtype=torch.long)) if multi else (example,)
    with torch.no_grad():
        exportable(*args)
    batch = torch.export.Dim("batch", min=1, max=1024)
    dynamic_shapes = ({0: batch}, {0: batch}) if multi else ({0: batch},)
    input_names = ["images", "class_index"] if multi else ["images"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # images and class_index share one batch dimension on purpose; the exporter notes it
        warnings.filterwarnings("ignore", message=".*shares the same shape constraints.*")
        program = torch.onnx.export(
            exportable, args, dynamo=True, dynamic_shapes=dynamic_shapes, input_names=input_names,
            output_names=["pred_score", "anomaly_map"], opset_version=OPSET, optimize=True, verbose=False,
        )
    info = {"class_names": list(class_names), "image_size": image_size, "inputs": input_names, "provenance": provenance, **(metadata or {})}
    program.model.metadata_props[METADATA_KEY] = json.dumps(info)
    with atomic_path(path) as temporary:
        program.save(str(temporary))
    return path


def _ensure_runtime():
    try:
        import onnxruntime
    except ImportError:
        raise ExportError("onnxruntime is not installed; install the export extra: pip install 'tipsomaly[export]'") from None
    return onnxruntime


class OnnxDetector:
    """An exported model run with onnxruntime (CPU by default): names -> class indices, size checked first.

    `detector(images [B, 3, S, S] float32 in [0, 1], class_names)` -> (pred_score [B], anomaly_map [B, S, S]).
    """

    def __init__(self, path: str | os.PathLike, providers: list[str] | None = None):
        ort = _ensure_runtime()
        self.path = Path(path)
        if not self.path.is_file():
            raise ExportError(f"no exported model at '{self.path}'; write one with `tipsomaly export --format onnx`")
        options = ort.SessionOptions()
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers or ["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own InvalidProtobuf, Fail, ... classes
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ExportError(f"{self.path}: not a readable ONNX model ({first[:200]}); the file is truncated or not ONNX. Export it again with `tipsomaly export --format onnx`") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in meta:
            raise ExportError(f"{self.path}: no '{METADATA_KEY}' metadata; it was not written by tipsomaly's export_onnx, export it again")
        self.info = json.loads(meta[METADATA_KEY])
        self.class_names: list[str] = self.info["class_names"]
        self.image_size: int = int(self.info["image_size"])

    def check_thresholds(self, thresholds) -> None:
        """Refuse thresholds (a `Thresholds`) calibrated for another backbone, size, prompt file, scoring or class."""
        from .thresholds import ThresholdsError, check_provenance

        if not isinstance(self.info.get("provenance"), dict):
            raise ThresholdsError(f"{self.path}: exported without provenance, so thresholds cannot be checked against it; export with `tipsomaly export`")
        check_provenance(thresholds, self.info["provenance"], str(self.path))
        self.class_indices([thresholds.class_name])

    def class_indices(self, class_names: list[str]) -> np.ndarray:
        missing = sorted({name for name in class_names if name not in self.class_names})
        if missing:
            raise ExportError(
                f"{self.path}: no precomputed text features for class {', '.join(map(repr, missing))}; "
                f"it holds {self.class_names}; export again with those names in --class_names"
            )
        return np.array([self.class_names.index(name) for name in class_names], dtype=np.int64)

    def __call__(self, images: np.ndarray | Tensor, class_names: list[str] | str | None = None) -> tuple[np.ndarray, np.ndarray]:
        images = images.detach().cpu().numpy() if isinstance(images, Tensor) else np.asarray(images)
        size = self.image_size
        if images.ndim != 4 or images.shape[1:] != (3, size, size):
            raise ExportError(f"{self.path}: images must be [B, 3, {size}, {size}] float32 in [0, 1], got {images.shape}; resize to the exported size")
        check_image_batch(images, str(self.path), ExportError)  # what the model's own forward refuses
        batch = images.shape[0]
        if class_names is None:
            if len(self.class_names) != 1:
                raise ExportError(f"{self.path}: exported for {len(self.class_names)} classes {self.class_names}; give class_names, one per image")
            class_names = self.class_names
        names = [class_names] * batch if isinstance(class_names, str) else list(class_names)
        if len(names) == 1 and batch > 1:
            names = names * batch
        if len(names) != batch:
            raise ExportError(f"{self.path}: {batch} images but {len(names)} class names; give one per image or one for all")
        feeds = {"images": images.astype(np.float32, copy=False)}
        indices = self.class_indices(names)
        if "class_index" in self.info["inputs"]:
            feeds["class_index"] = indices
        score, maps = self.session.run(["pred_score", "anomaly_map"], feeds)
        bad = [i for i in range(batch) if not (np.isfinite(score[i]) and np.isfinite(maps[i]).all())]
        if bad:
            raise ExportError(f"{self.path}: NaN or infinite scores for images {bad}; no decision is made on them. Export the model again")
        return score, maps
