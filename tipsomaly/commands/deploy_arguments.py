"""Options shared by `tipsomaly calibrate` and `tipsomaly export`: the backbone (as the config's `model.backbone`
keys) and the prompt file; and turning them into a `Detector`."""

from __future__ import annotations

import argparse
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
BACKBONE_FIELDS = ("name", "checkpoint_dir", "vision_checkpoint", "text_checkpoint", "tokenizer", "vision_num_heads", "text_num_heads")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt_file", default=None, help="learned prompts (learnable_prompts_epochN.pt or the reference's .pth); omit for fixed prompts only")
    parser.add_argument("--backbone.name", dest="backbone_name", default=None, help="official TIPS name, e.g. tips-v2-l14")
    parser.add_argument("--backbone.checkpoint_dir", dest="backbone_checkpoint_dir", default=None, help="folder of the official TIPS downloads")
    for field in ("vision_checkpoint", "text_checkpoint", "tokenizer"):
        parser.add_argument(f"--backbone.{field}", dest=f"backbone_{field}", default=None, help=f"explicit {field} path (instead of name + checkpoint_dir)")
    for field in ("vision_num_heads", "text_num_heads"):
        parser.add_argument(f"--backbone.{field}", dest=f"backbone_{field}", type=int, default=None, help="head count of a non-official width")
    parser.add_argument("--image_size", type=int, default=None, help="model input side S (default: the prompt file's, else 518)")
    parser.add_argument("--fixed_prompts", default=None, help="prompt family: industrial, medical, object_agnostic (default: the prompt file's)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    parser.add_argument("--reference_dir", default=None, help="few-shot mode: a folder of normal reference images of the product")


def backbone_spec(args: argparse.Namespace) -> dict:
    spec = {field: getattr(args, f"backbone_{field}") for field in BACKBONE_FIELDS}
    if spec["name"] is None and spec["vision_checkpoint"] is None:
        raise ValueError("no backbone given; pass --backbone.name tips-v2-l14 --backbone.checkpoint_dir checkpoints (or the explicit --backbone.*_checkpoint paths)")
    return spec


def load_detector(args: argparse.Namespace, class_name: str | None, thresholds=None):
    from lightning_modules.deploy import Detector

    return Detector.load(
        args.prompt_file, thresholds=thresholds, backbone=backbone_spec(args), class_name=class_name,
        image_size=args.image_size, fixed_prompts=args.fixed_prompts, device=args.device,
        reference_dir=getattr(args, "reference_dir", None),
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
