"""Options shared by `tipsomaly calibrate` and `tipsomaly export`: the backbone (as the config's `model.backbone`
keys), the prompt file and the scoring settings, or a run's config that holds them; and turning them into a
`Detector`. Every value is checked here, before any weights load or any image is scored."""

from __future__ import annotations

import argparse
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
BACKBONE_FIELDS = ("name", "checkpoint_dir", "vision_checkpoint", "text_checkpoint", "tokenizer", "vision_num_heads", "text_num_heads")
# settings a run's config holds under `model:` that change scores (TipsomalySettings fields)
RUN_MODEL_SETTINGS = ("fixed_prompts", "image_token", "local_to_global", "decoupled", "sigma")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, help="a run's config (e.g. RUN/config_fit.yaml): its backbone, scoring settings, image size and resize")
    parser.add_argument("--prompt_file", default=None, help="learned prompts (learnable_prompts_epochN.pt or the reference's .pth); omit for fixed prompts only")
    parser.add_argument("--backbone.name", dest="backbone_name", default=None, help="official TIPS name, e.g. tips-v2-l14")
    parser.add_argument("--backbone.checkpoint_dir", dest="backbone_checkpoint_dir", default=None, help="folder of the official TIPS downloads, or a folder saved by transformers (TIPS v2, SigLIP)")
    for field in ("vision_checkpoint", "text_checkpoint", "tokenizer"):
        parser.add_argument(f"--backbone.{field}", dest=f"backbone_{field}", default=None, help=f"explicit {field} path (instead of name + checkpoint_dir)")
    for field in ("vision_num_heads", "text_num_heads"):
        parser.add_argument(f"--backbone.{field}", dest=f"backbone_{field}", type=int, default=None, help="head count of a non-official width")
    parser.add_argument("--image_size", type=int, default=None, help="model input side S (default: the prompt file's, else 518)")
    parser.add_argument("--resize", default=None, help="reference or letterbox, as the data of the run (default: the prompt file's)")
    parser.add_argument("--fixed_prompts", default=None, help="prompt family: industrial, medical, object_agnostic (default: the prompt file's)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    parser.add_argument("--reference_dir", default=None, help="few-shot mode: a folder of normal reference images of the product")


def run_config(path: str | None) -> dict:
    """The `model:` backbone and settings and the `data:` size and resize of a run's config file ({} without one)."""
    if path is None:
        return {}
    import yaml

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"--config '{path}' does not exist; give a run's config, e.g. <results_dir>/config_fit.yaml")
    try:
        content = yaml.safe_load(file.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"--config '{path}' is not valid YAML ({str(error).splitlines()[0]}); fix the file or give the options as flags") from None
    if not isinstance(content, dict):
        raise ValueError(f"--config '{path}' holds {type(content).__name__}, expected a run's config with model: and data: sections")
    model, data = content.get("model") or {}, content.get("data") or {}
    settings = {key: model[key] for key in RUN_MODEL_SETTINGS if model.get(key) is not None}
    settings.update({key: data[key] for key in ("image_size", "resize") if data.get(key) is not None})
    return {"backbone": model.get("backbone") or {}, "settings": settings}


def backbone_spec(args: argparse.Namespace, config: dict | None = None) -> dict:
    spec = dict((config or {}).get("backbone") or {})
    spec = {field: spec.get(field) for field in BACKBONE_FIELDS}
    given = {field: getattr(args, f"backbone_{field}") for field in BACKBONE_FIELDS if getattr(args, f"backbone_{field}") is not None}
    if given.get("name") or given.get("vision_checkpoint"):  # one way of naming the backbone replaces the other
        spec = {field: None for field in BACKBONE_FIELDS}
    spec.update(given)
    if spec["name"] is None and spec["vision_checkpoint"] is None and spec["checkpoint_dir"] is None:
        raise ValueError("no backbone given; pass --backbone.name tips-v2-l14 --backbone.checkpoint_dir checkpoints (or the explicit --backbone.*_checkpoint paths, "
                         "or --backbone.checkpoint_dir alone for a folder saved by transformers, or --backbone.name <hub id>, or --config RUN/config_fit.yaml)")
    return spec


def check_device(device: str) -> str:
    import torch

    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"--device {device!r} is not a torch device; use cpu, cuda or cuda:1") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: no CUDA GPU is available here; use --device cpu")
    return device


def check_image_size(size: int | None, backbone: dict | None = None) -> None:
    """--image_size on the backbone's patch grid (TIPS 14, SigLIP 16; read from the backbone's files, no weights)."""
    from lightning_modules.backbones import backbone_patch_size
    from lightning_modules.tips.vision_tower import PATCH_SIZE

    patch = backbone_patch_size(backbone)[1] if backbone else PATCH_SIZE
    if size is not None and (size < patch or size % patch):
        raise ValueError(f"--image_size {size}: expected a positive multiple of the patch size {patch} (e.g. {max(1, round(size / patch)) * patch}); omit it to use the prompt file's")


def load_detector(args: argparse.Namespace, class_name: str | None, thresholds=None):
    from lightning_modules.deploy import Detector

    check_device(args.device)
    config = run_config(args.config)
    backbone = backbone_spec(args, config)
    check_image_size(args.image_size, backbone)
    settings = dict(config.get("settings") or {})
    settings.update({key: value for key in ("image_size", "resize", "fixed_prompts") if (value := getattr(args, key)) is not None})
    return Detector.load(
        args.prompt_file, thresholds=thresholds, backbone=backbone, class_name=class_name, device=args.device,
        reference_dir=getattr(args, "reference_dir", None), **settings,
    )


def image_files(folder: str | None, what: str) -> list[Path]:
    """The image files directly in `folder`, sorted; an error naming the folder when there are none."""
    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"{what} folder '{folder}' does not exist; give a folder of images")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"{what} folder '{folder}' holds no images ({', '.join(IMAGE_SUFFIXES)}); point it at the images themselves, not a parent folder")
    return files
