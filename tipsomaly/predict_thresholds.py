"""`tipsomaly predict --thresholds FILE`: calibrated thresholds checked against the run before any image is scored."""

from __future__ import annotations

from pathlib import Path

from lightning_modules.deploy.detector import backbone_label, class_words, scoring_settings
from lightning_modules.deploy.thresholds import Provenance, Thresholds, ThresholdsError, check_provenance, file_sha256, load_thresholds


def check_thresholds(path: str, model, datamodule) -> Thresholds:
    """Load `path` and refuse it unless it was calibrated with this run's backbone, image size, prompt file and
    scoring, and for the class of every image to predict (one product per thresholds file)."""
    thresholds = load_thresholds(path)
    h = model.hparams
    prompt_file = h.prompt_checkpoint
    expected = Provenance(
        backbone=backbone_label(model.model.tips),
        image_size=int(datamodule.image_size),
        prompt_file=Path(prompt_file).name if prompt_file else "",
        prompt_sha256=file_sha256(prompt_file) if prompt_file else "",
        scoring=scoring_settings(h.fixed_prompts, h.image_token, h.local_to_global, h.decoupled, h.sigma),
    )
    check_provenance(thresholds, expected, path)
    datamodule.setup("predict")
    classes = sorted({name for dataset in datamodule.predict_datasets for name in dataset.prompt_class_names})
    others = [name for name in classes if class_words(name) != class_words(thresholds.class_name)]
    if others:
        raise ThresholdsError(
            f"{path}: thresholds are for class {thresholds.class_name!r} but the images to predict include {others}; "
            "predict one product per run, or calibrate thresholds for each class"
        )
    return thresholds
