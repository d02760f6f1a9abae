"""`tipsomaly predict --thresholds FILE`: calibrated thresholds checked against what will score, before any image is.

"What will score" is the live model's provenance (`model.provenance()`: its backbone, its prompt tensors'
hash), with the input size, the resize and each predict set's prompt family as the data will deliver them.
With `--ckpt_path`, the checkpoint's prompts are what score (not `--model.prompt_checkpoint`), so they are
loaded first; Lightning loads the same weights again when predicting.
"""

from __future__ import annotations

import os

import torch

from lightning_modules.deploy.detector import class_words
from lightning_modules.deploy.thresholds import Thresholds, ThresholdsError, check_provenance, load_thresholds

BACKBONE_PREFIX = "model.tips."  # the frozen backbone is not in our checkpoints (Tipsomaly.on_save_checkpoint)


def load_checkpoint_prompts(model, ckpt_path: str) -> None:
    """Put the prompts (and their learned flag) of a Lightning checkpoint into `model`, as `trainer.predict` will."""
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    state = {key: value for key, value in checkpoint["state_dict"].items() if not key.startswith(BACKBONE_PREFIX)}
    model.load_state_dict(state, strict=False)


def scoring_provenance(model, datamodule, fixed_prompts: str | None) -> dict:
    """The provenance of scores the run will produce for a set whose prompt family is `fixed_prompts`."""
    provenance = model.provenance()
    size = int(datamodule.image_size)
    return {
        **provenance,
        "image_size": [size, size],
        "resize": datamodule.resize,
        "fixed_prompts": fixed_prompts or provenance["fixed_prompts"],
    }


def check_thresholds(path: str, model, datamodule, ckpt_path: str | None = None) -> Thresholds:
    """Load `path` and refuse it unless it was calibrated with what will score: the backbone, image size and resize,
    the prompts (of `ckpt_path` when given), the prompt family of every predict set and the scoring settings; and
    for the class of every image to predict (one product per thresholds file)."""
    thresholds = load_thresholds(path)
    if ckpt_path and os.path.isfile(ckpt_path):  # "last"/"best" name no file: nothing is restored from them here
        load_checkpoint_prompts(model, ckpt_path)
    datamodule.setup("predict")
    for dataset in datamodule.predict_datasets:
        check_provenance(thresholds, scoring_provenance(model, datamodule, dataset.fixed_prompts), path)
    classes = sorted({name for dataset in datamodule.predict_datasets for name in dataset.prompt_class_names})
    others = [name for name in classes if class_words(name) != class_words(thresholds.class_name)]
    if others:
        raise ThresholdsError(
            f"{path}: thresholds are for class {thresholds.class_name!r} but the images to predict include {others}; "
            "predict one product per run, or calibrate thresholds for each class"
        )
    return thresholds
