"""The run-level options of `tipsomaly fit/validate/test/predict` and the declared writer callbacks.

Every other flag is a constructor argument (model.*, data.*, trainer.*). The writers and observers are LightningCLI
"forced callbacks" (`add_lightning_class_args`): always present, even when a config lists `trainer.callbacks` of its
own, visible in `--print_config` and the saved config (`--wandb_images.per_class 2`), their defaults in
tipsomaly/default_config.yaml. Values two components share are linked, set once.
"""

from __future__ import annotations

import inspect
from typing import Optional

from lightning.pytorch.cli import LightningArgumentParser

from lightning_modules.callbacks.prediction_writer import PredictionWriter
from lightning_modules.callbacks.prompt_writer import PromptWriter
from lightning_modules.callbacks.results_writer import ResultsWriter
from lightning_modules.callbacks.wandb_images import WandbImages
from lightning_modules.callbacks.wandb_results import WandbResults
from lightning_modules.tipsomaly import Tipsomaly
from tipsomaly.quiet_processes import QuietProcesses

# config key -> callback; the order is the order they run in (files first, then the observers that copy them)
DECLARED_CALLBACKS = {
    "quiet_processes": QuietProcesses,
    "results_writer": ResultsWriter,
    "prompt_writer": PromptWriter,
    "prediction_writer": PredictionWriter,
    "wandb_results": WandbResults,
    "wandb_images": WandbImages,
}
# run-level option -> the declared callbacks' arguments it sets (one value, never two that disagree). The writers'
# `results_dir` stays visible (null) but is not a second folder: the CLI hands them its one RunFolder, and
# `refuse_writer_folders` refuses a value there.
LINKS = {
    "overwrite": ["results_writer.overwrite", "prompt_writer.overwrite"],
    "save_maps": ["prediction_writer.save_maps"],
    "overlays_per_class": ["prediction_writer.overlays_per_class"],
}


def model_accepts(name: str) -> bool:
    return name in inspect.signature(Tipsomaly.__init__).parameters


def add_run_arguments(parser: LightningArgumentParser) -> None:
    """The options, the declared callbacks and the links, on one subcommand's parser."""
    parser.link_arguments("data.image_size", "model.image_size")
    if model_accepts("resize"):  # the model records how its inputs were resized (provenance): one value for both
        parser.link_arguments("data.resize", "model.resize")
    parser.add_argument(
        "--results_dir", type=Optional[str], default=None,
        help="Folder for results, predictions, prompts and checkpoints (default: tipsomaly_runs/version_N, or a "
             "CSV/TensorBoard logger's version folder).",
    )
    parser.add_argument(
        "--overwrite", type=bool, default=False,
        help="Allow writing into a --results_dir that already holds results of this subcommand: they are removed first.",
    )
    parser.add_argument(
        "--save_maps", type=bool, default=False,
        help="test: also write float16 anomaly maps (maps/<dataset>/<class>.npz) and overlay PNGs.",
    )
    parser.add_argument(
        "--thresholds", type=Optional[str], default=None,
        help="predict: a thresholds file from `tipsomaly calibrate`; adds a `decision` column (score >= threshold).",
    )
    parser.add_argument(
        "--overlays_per_class", type=int, default=4,
        help="Overlay PNGs per class with --save_maps (anomalous images first), and for predict (highest score first).",
    )
    for key, callback in DECLARED_CALLBACKS.items():
        parser.add_lightning_class_args(callback, key)
    for source, targets in LINKS.items():
        for target in targets:
            parser.link_arguments(source, target)


def refuse_writer_folders(config) -> None:  # noqa: ANN001 - the subcommand's Namespace
    """One folder per run: a declared writer's own results_dir would be a second one."""
    from tipsomaly.preflight import PreflightError

    for key in DECLARED_CALLBACKS:
        value = (config.get(key) or {}).get("results_dir") if config.get(key) is not None else None
        if value is not None:
            raise PreflightError(
                f"{key}.results_dir '{value}' would give that writer a folder of its own; every writer uses the run's "
                f"folder: remove {key}.results_dir and set --results_dir {value} instead."
            )
