"""Where a run's files go (`--results_dir`), and the rule that a results folder is never silently overwritten.

Layout of a results folder (every reader and writer uses it):

    config.yaml                         the resolved config of the run
    test_results.csv, .md               one row per (dataset, class), dataset means, the mean over datasets
    test_predictions.csv                one row per image
    maps/<dataset>/<class>.npz          float16 anomaly maps (--save_maps true)
    overlays/<dataset>/<class>/*.png    image | heatmap | ground-truth contour
    prompts/learnable_prompts_epochN.pt learned prompts (fit)
"""

from __future__ import annotations

from pathlib import Path

from lightning_modules.callbacks.output_folder import RUNS_FOLDER, next_version_dir

# Per subcommand, the files whose presence means "this folder already holds such results". A `test` into the
# folder of the `fit` that learned its prompts is fine; a second `test` into it is not.
STAGE_FILES = {
    "fit": ("prompts", "checkpoints"),
    "validate": ("val_results_epoch*",),
    "test": ("test_results.*", "test_predictions.csv", "maps", "overlays"),
    "predict": ("predictions.csv", "overlays"),
}


class ResultsFolderError(ValueError):
    """A results folder that cannot be used as asked."""


def check_results_dir(path: str | Path, subcommand: str, *, overwrite: bool) -> Path:
    """`path` as a Path, or a one-line error when it is a file, or already holds results of `subcommand` and
    overwrite is off."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ResultsFolderError(
            f"--results_dir '{folder}' is a file, expected a folder for the run's results; pass a folder path."
        )
    if folder.is_dir() and not overwrite:
        found = sorted({path.name for pattern in STAGE_FILES[subcommand] for path in folder.glob(pattern)})
        if found:
            raise ResultsFolderError(
                f"--results_dir '{folder}' already holds {subcommand} results of an earlier run ({', '.join(found)}); "
                "pass --overwrite true to replace them, or choose another --results_dir."
            )
    return folder


def default_results_dir(trainer) -> Path:
    """The run's own folder when no --results_dir is given.

    TensorBoard and CSV loggers give every run a fresh `version_N` folder: results go there, beside the logs.
    Other loggers (W&B keeps its files in its own tree) or no logger: `<default_root_dir>/tipsomaly_runs/version_N`.
    """
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    if trainer.loggers and isinstance(trainer.loggers[0], (CSVLogger, TensorBoardLogger)):
        return Path(trainer.loggers[0].log_dir)
    return next_version_dir(Path(trainer.default_root_dir) / RUNS_FOLDER)
