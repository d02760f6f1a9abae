"""`TipsomalyCLI`: LightningCLI over `Tipsomaly` and `AnomalyDataModule`, through its public hooks only.

Each job has its own file: the run-level options, declared callbacks and links (tipsomaly/cli_parser.py), what
--ckpt_path may name and how its stored arguments meet the user's (tipsomaly/checkpoint_arguments.py), the run
folder (tipsomaly/run_folder.py), handing it to the callbacks (tipsomaly/run_callbacks.py), and what is printed at
the end (tipsomaly/run_messages.py). This file only puts them in LightningCLI's order.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Optional

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities.exceptions import SIGTERMException

from datamodules import AnomalyDataModule
from lightning_modules.callbacks.prediction_writer import PredictionWriter
from lightning_modules.tipsomaly import Tipsomaly
from tipsomaly import checkpoint_arguments as ckpt_args
from tipsomaly import preflight, run_messages
from tipsomaly.checkpoint_arguments import CheckpointArgumentError
from tipsomaly.cli_parser import add_run_arguments, refuse_writer_folders
from tipsomaly.config_files import given_configs
from tipsomaly.predict_thresholds import check_thresholds
from tipsomaly.quiet import silence_callback_state_notice, silence_resume_notice
from tipsomaly.run_callbacks import StageConfig, configure_checkpointing, hand_run_folder
from tipsomaly.run_folder import RunFolder, default_run_folder, prepare, resumes_in
from tipsomaly.wandb_setup import check_logger_config, is_artifact_name, prompt_file_from_artifact

HERE = Path(__file__).parent
# Loaded before any --config: every stage's defaults, then the defaults of the evaluation and predict entry points.
DEFAULT_CONFIG = HERE / "default_config.yaml"
STAGE_DEFAULTS = {"validate": "default_evaluate.yaml", "test": "default_evaluate.yaml", "predict": "default_predict.yaml"}
# Set once the Trainer runs: a ValueError after that is a bug to show in full, not a bad input to report.
_STATE: dict = {"started": False, "claimed": None}


def run_started() -> bool:
    """Whether the last `run` got as far as starting its Trainer (errors after that are not input errors)."""
    return _STATE["started"]


class RunInterrupted(Exception):
    """A fit stopped by Ctrl-C or SIGTERM: `message` says what was kept and how to resume; `status` is non-zero."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def _default_files(subcommand: str) -> list[str]:
    extra = STAGE_DEFAULTS.get(subcommand)
    return [str(DEFAULT_CONFIG), *([str(HERE / extra)] if extra else [])]


class TipsomalyCLI(LightningCLI):
    """LightningCLI with: image size (and resize) linked from the data, env-var and absolute paths, early checks,
    checkpoint arguments that never override the user's, and one run folder that is never silently overwritten."""

    def __init__(self, args, given_args: Optional[list[str]] = None, **kwargs):
        """args: the command line with every --config expanded (config_files.py); given_args: as the user typed it,
        for the commands printed back (resume)."""
        self.run_folder: Optional[RunFolder] = None
        self.given_args = list(given_args if given_args is not None else args)
        super().__init__(
            Tipsomaly,
            AnomalyDataModule,
            args=args,
            save_config_callback=StageConfig,
            # errors raise (not print usage and exit), so `main` can report them on one line
            parser_kwargs={
                "parser_mode": "yaml",
                "exit_on_error": False,
                **{
                    command: {"parser_mode": "yaml", "exit_on_error": False, "default_config_files": _default_files(command)}
                    for command in ("fit", "validate", "test", "predict")
                },
            },
            auto_configure_optimizers=False,  # the prompts' Adam is the model's own configure_optimizers
            seed_everything_default=111,  # the paper's seed: runs repeat unless a config says otherwise
            **kwargs,
        )

    # -- parsing --------------------------------------------------------------------------------
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        add_run_arguments(parser)

    def parse_arguments(self, parser: LightningArgumentParser, args) -> None:
        # `main` always passes its arguments explicitly, so LightningCLI's warning about args + sys.argv is moot.
        self._args = list(args)
        preflight.check_linked_image_size(self._args)
        preflight.check_inline_values(self._args)
        self.config = parser.parse_args(self._args)
        subcommand = self.config.get("subcommand")
        if subcommand is None:
            return
        config = self.config[subcommand]
        # what the user set (config files and flags, no defaults): it wins over what the checkpoint stored
        defaults = self._subcommand_parsers[subcommand].get_defaults().get("model")
        in_files = {
            key for _, content in given_configs(self._args) if isinstance(content.get("model"), dict)
            for key in ckpt_args.flatten(content["model"])
        }
        self._given_model = ckpt_args.given_values(config.get("model"), defaults, self._args, in_files)
        if config.get("ckpt_path"):
            results = RunFolder(preflight.expand_variables(str(config.results_dir), "--results_dir")) if config.get("results_dir") else None
            config.ckpt_path = ckpt_args.resolve_ckpt_path(
                str(config.ckpt_path), subcommand, results.last_checkpoint if results else None
            )
            self._stored_model = ckpt_args.checkpoint_hyperparameters(config.ckpt_path)
            ckpt_args.check_conflicts(config.ckpt_path, self._stored_model, self._given_model)
        # LightningCLI then applies every argument stored in the checkpoint; before_instantiate_classes puts the
        # user's back

    # -- before anything is built -------------------------------------------------------------
    def before_instantiate_classes(self) -> None:
        subcommand = self.subcommand
        config = self.config[subcommand]
        if config.get("ckpt_path"):
            self._apply_checkpoint_arguments(subcommand)
            config = self.config[subcommand]
        preflight.expand_paths(config)
        preflight.check_image_size(config.data.image_size, config.model.backbone)
        preflight.check_ranges(subcommand, config)
        refuse_writer_folders(config)
        check_logger_config(config.trainer.get("logger"))  # W&B online without a key is one line, before any work
        if config.get("thresholds") and subcommand != "predict":
            raise preflight.PreflightError(f"--thresholds is for `predict` (a decision per image), not `{subcommand}`; drop it")
        prompt_checkpoint = config.model.get("prompt_checkpoint")
        if prompt_checkpoint and is_artifact_name(str(prompt_checkpoint)):  # entity/project/name:version
            download = Path(config.results_dir or ".") / "prompts_artifact"
            config.model.prompt_checkpoint = str(prompt_file_from_artifact(str(prompt_checkpoint), download))
        preflight.check_prompt_checkpoint(config.model.get("prompt_checkpoint"))
        preflight.check_datasets(subcommand, config.data)
        if config.results_dir:  # checked before any model is built; claimed once the trainer exists
            self.run_folder = RunFolder(config.results_dir)
            if not resumes_in(self.run_folder, subcommand, config.get("ckpt_path")):
                self.run_folder.check(subcommand, config.overwrite)

    def _apply_checkpoint_arguments(self, subcommand: str) -> None:
        """The checkpoint's stored model arguments, except those the user set and those linked from the data."""
        accepted = set(inspect.signature(Tipsomaly.__init__).parameters) - {"self"}
        stored = ckpt_args.stored_model_arguments(self._stored_model, accepted, self._given_model)
        # from the user's parse (LightningCLI has applied all of the checkpoint's meanwhile): given + linked values
        user = self.parser.parse_args(self._args)[subcommand].model
        chosen = {
            key: value for key, value in ckpt_args.flatten(user.as_dict()).items()
            if key not in stored and key.split(".")[0] not in ckpt_args.LINKED_MODEL_KEYS
        }
        self.config = self.parser.parse_object({subcommand: {"model": ckpt_args.unflatten({**chosen, **stored})}}, self.config)

    def after_instantiate_classes(self) -> None:
        subcommand, config, trainer = self.subcommand, self.config[self.subcommand], self.trainer
        if self.run_folder is None:
            self.run_folder = default_run_folder(trainer)
        folder = self.run_folder
        resume = resumes_in(folder, subcommand, config.get("ckpt_path"))
        threshold = None
        if config.get("thresholds"):  # checked against the model before the folder is claimed or cleared
            threshold = check_thresholds(config.thresholds, self.model, self.datamodule, config.get("ckpt_path")).image_threshold
        prepare(folder, subcommand, overwrite=config.overwrite, resume=resume)
        _STATE["claimed"] = folder
        if resume:
            silence_resume_notice()
        hand_run_folder(trainer, folder)
        if subcommand == "fit":
            declared = any("ModelCheckpoint" in str(c.get("class_path", "")) for c in (config.trainer.get("callbacks") or []))
            configure_checkpointing(trainer, folder, user_declared=declared)
        else:  # nothing to checkpoint; a loaded checkpoint's callback state is moot
            trainer.callbacks = [c for c in trainer.callbacks if not isinstance(c, ModelCheckpoint)]
            silence_callback_state_notice()
        if threshold is not None:
            for callback in trainer.callbacks:
                if isinstance(callback, PredictionWriter):
                    callback.image_threshold = threshold

    # -- running --------------------------------------------------------------------------------
    def _started(self) -> None:
        _STATE["started"] = True

    before_fit = before_validate = before_test = before_predict = _started

    def _run_reporting_stops(self, stage: str, model, **kwargs) -> None:
        """`trainer.<stage>`, with a stop (Ctrl-C, SIGTERM) reported as such: non-zero, what was kept and, for a
        fit, the command that resumes it (Lightning alone exits 0 on SIGTERM)."""
        try:
            getattr(self.trainer, stage)(model, **kwargs)
        except SystemExit as stop:  # SIGTERMException, or Lightning's sys.exit(1) after a KeyboardInterrupt
            why, status = ("SIGTERM", 143) if isinstance(stop, SIGTERMException) else ("Ctrl-C", 130)
            if not self.trainer.is_global_zero:
                raise
            if stage == "fit":
                message = run_messages.fit_interrupted(self.given_args, self.run_folder, why)
            else:
                message = run_messages.evaluation_interrupted(stage, self.run_folder, why)
            raise RunInterrupted(message, status) from None

    def fit(self, model, **kwargs) -> None:
        self._run_reporting_stops("fit", model, **kwargs)

    def validate(self, model, **kwargs) -> None:
        self._run_reporting_stops("validate", model, **kwargs)

    def test(self, model, **kwargs) -> None:
        self._run_reporting_stops("test", model, **kwargs)

    def predict(self, model, **kwargs) -> None:
        self._run_reporting_stops("predict", model, **kwargs)

    def after_fit(self) -> None:
        if self.trainer.is_global_zero:
            print(run_messages.fit_finished(self.run_folder))

    def after_validate(self) -> None:
        if self.trainer.is_global_zero:
            print(run_messages.evaluation_finished(self.run_folder, "validate"))

    def after_test(self) -> None:
        if self.trainer.is_global_zero:
            print(run_messages.evaluation_finished(self.run_folder, "test"))

    def after_predict(self) -> None:
        if self.trainer.is_global_zero:
            print(run_messages.predict_finished(self.run_folder))


def run(args: list[str]) -> TipsomalyCLI:
    """Parse `args` (`fit ...`, `test ...`), check them, build model / data / trainer and run the subcommand; the
    run folder's lock is released however it ends."""
    from tipsomaly.quiet import silence_harmless_messages

    silence_harmless_messages()
    _STATE["started"], _STATE["claimed"] = False, None
    from tipsomaly.config_files import expand_config_arguments  # `config:` parents merged key by key

    try:
        return TipsomalyCLI(expand_config_arguments(args), given_args=args)
    finally:
        if _STATE["claimed"] is not None:
            _STATE["claimed"].release()


__all__ = ["CheckpointArgumentError", "RunInterrupted", "TipsomalyCLI", "run", "run_started"]
