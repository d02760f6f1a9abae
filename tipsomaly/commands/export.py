"""`tipsomaly export --format onnx`: the image side of a model as ONNX, checked against PyTorch with onnxruntime.

    tipsomaly export --format onnx --class_names bottle metal_nut --output bottle_nut.onnx \
        --prompt_file run/prompts/learnable_prompts_epoch2.pt --backbone.name tips-v2-l14 --backbone.checkpoint_dir checkpoints
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .deploy_arguments import add_model_arguments, load_detector

FORMATS = ("onnx",)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tipsomaly export", description="Export the image side (tower, precomputed text features, scoring, maps).")
    parser.add_argument("--format", default="onnx", choices=FORMATS, help="only onnx for now")
    parser.add_argument("--class_names", nargs="+", required=True, help="the products whose text features are precomputed into the model")
    parser.add_argument("--output", required=True, help="the .onnx file to write")
    parser.add_argument("--no_check", action="store_true", help="skip the onnxruntime-vs-PyTorch check on two random images")
    add_model_arguments(parser)
    return parser


def export_main(argv: list[str]) -> int:
    """Write the model, then (unless --no_check) run it with onnxruntime and print the largest difference to PyTorch."""
    args = _parser().parse_args(argv)
    import torch

    from datamodules.class_names import prompt_class_name
    from lightning_modules.deploy.onnx_export import ExportError, OnnxDetector, export_onnx

    try:
        if Path(args.output).is_dir():
            raise ValueError(f"--output '{args.output}' is a folder; give the .onnx file's name, e.g. {Path(args.output) / 'model.onnx'}")
        detector = load_detector(args, args.class_names[0])
        path = export_onnx(detector.model, args.output, args.class_names, detector.image_size, detector.fixed_prompts, few_shot=detector.few_shot)
    except (ValueError, FileNotFoundError, ExportError, OSError) as error:
        print(f"tipsomaly export: error: {error}", file=sys.stderr)
        return 2
    print(f"ONNX model for {args.class_names} at {detector.image_size} px written to {path}")
    if not args.no_check:
        images = torch.rand(2, 3, detector.image_size, detector.image_size, generator=torch.Generator().manual_seed(0))
        names = [args.class_names[i % len(args.class_names)] for i in range(2)]
        score, maps = OnnxDetector(path)(images.numpy(), names)
        words = [prompt_class_name("", name) for name in names]  # as the export and the Detector say them
        with torch.no_grad():
            few_shot = detector.few_shot.for_batch(["detector"] * len(names), names) if detector.few_shot else None  # few-shot mode
            ref = detector.model(images.to(detector.device), words, fixed_prompts=detector.fixed_prompts, few_shot=few_shot)
        score_diff = float(abs(torch.from_numpy(score) - ref.pred_score.cpu()).max())
        map_diff = float(abs(torch.from_numpy(maps) - ref.anomaly_map.cpu()).max())
        print(f"  onnxruntime vs PyTorch on 2 random images: max |score diff| {score_diff:.2e}, max |map diff| {map_diff:.2e}")
    return 0


main = export_main
