"""`tipsomaly calibrate`: decision thresholds for one product, stored as JSON beside the prompts.

    tipsomaly calibrate --class_name bottle --normal_dir parts/good --prompt_file run/prompts/learnable_prompts_epoch2.pt \
        --backbone.name tips-v2-l14 --backbone.checkpoint_dir checkpoints [--quantile 0.99 | --target_fpr 0.01]
    # with a labelled set: add --anomalous_dir parts/bad  (image threshold at F1-max, FPR on the normals reported)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .deploy_arguments import add_model_arguments, image_files, load_detector


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tipsomaly calibrate", description="Thresholds for the image score and the anomaly map from normal images.")
    parser.add_argument("--class_name", required=True, help="the product as the prompts name it, e.g. bottle or metal_nut")
    parser.add_argument("--normal_dir", required=True, help="folder of normal images of the product (tens suffice)")
    parser.add_argument("--anomalous_dir", default=None, help="folder of anomalous images: switches to the F1-max threshold")
    rate = parser.add_mutually_exclusive_group()
    rate.add_argument("--quantile", type=float, default=None, help="quantile of the normal scores (default 0.99)")
    rate.add_argument("--target_fpr", type=float, default=None, help="target false-positive rate on normal images (= 1 - quantile)")
    parser.add_argument("--output", default=None, help="the JSON file (default: thresholds_<class>.json beside the prompt file)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing thresholds file")
    add_model_arguments(parser)
    return parser


def calibrate_main(argv: list[str]) -> int:
    """Write the thresholds file and print where it went and its values; 2 and a one-line error on bad input."""
    args = _parser().parse_args(argv)
    from lightning_modules.deploy import calibrate_labelled, calibrate_normal, save_thresholds
    from lightning_modules.deploy.thresholds import default_thresholds_path
    from lightning_modules.tipsomaly.few_shot import refuse_reference_overlap

    quantile = 1.0 - args.target_fpr if args.target_fpr is not None else (args.quantile if args.quantile is not None else 0.99)
    try:
        if not 0.0 < quantile < 1.0:  # checked before any image is scored
            given = f"--target_fpr {args.target_fpr}" if args.target_fpr is not None else f"--quantile {args.quantile}"
            raise ValueError(f"{given}: the quantile must lie in (0, 1) (a target false-positive rate in (0, 1)), e.g. --quantile 0.99")
        output = Path(args.output or default_thresholds_path(args.prompt_file, args.class_name))
        if output.is_dir():
            raise ValueError(f"--output '{output}' is a folder; give the thresholds file's name, e.g. {output / f'thresholds_{args.class_name}.json'}")
        if output.exists() and not args.overwrite:
            raise ValueError(f"'{output}' already exists; pass --overwrite to replace it, or --output another file")
        normals = image_files(args.normal_dir, "normal")
        anomalous = image_files(args.anomalous_dir, "anomalous") if args.anomalous_dir else []
        detector = load_detector(args, args.class_name)
        refuse_reference_overlap(normals, detector.few_shot)  # few-shot mode: references score 0 (few_shot.py)
        if anomalous:
            thresholds = calibrate_labelled(detector, normals + anomalous, [0] * len(normals) + [1] * len(anomalous), quantile)
        else:
            thresholds = calibrate_normal(detector, normals, quantile)
        path = save_thresholds(output, thresholds)
    except (ValueError, FileNotFoundError, OSError) as error:
        print(f"tipsomaly calibrate: error: {str(error).splitlines()[0] if str(error) else type(error).__name__}", file=sys.stderr)
        return 2
    print(f"thresholds for {thresholds.class_name!r} from {thresholds.n_images} images ({thresholds.method}) written to {path}")
    print(f"  image score >= {thresholds.image_threshold:.6g} is anomalous; map pixels >= {thresholds.map_threshold:.6g} are flagged")
    if thresholds.method == "normal_quantile":
        print(f"  expected false-positive rate on normal images <= {thresholds.expected_fpr:.4g} (asked {1 - quantile:.4g})")
    else:
        print(f"  F1-max {thresholds.f1_max:.4f}; false-positive rate on these normal images {thresholds.fpr_on_normals:.4g}")
    return 0


main = calibrate_main
