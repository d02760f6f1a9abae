"""`TipsomalyCLI`: LightningCLI over `Tipsomaly` and `AnomalyDataModule`, with the results folder and its writers.

Every flag is a constructor argument (model.*, data.*, trainer.*) except four run-level options:
`--results_dir`, `--overwrite`, `--save_maps` and `--overlays_per_class`.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Optional

import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from datamodules import AnomalyDataModule
from lightning_modules.callbacks.prediction_writer import PredictionWriter
from lightning_modules.callbacks.prompt_writer import PromptWriter
from lightning_modules.callbacks.results_writer import ResultsWriter
from lightning_modules.callbacks.wandb_images import WandbImages
from lightning_modules.callbacks.wandb_results import WandbResults
from lightning_modules.tipsomaly import Tipsomaly
from tipsomaly import preflight
from tipsomaly.paths import expand_variables
from tipsomaly.quiet import quiet_callback, silence_callback_state_notice
from tipsomaly.predict_thresholds import check_thresholds
from tipsomaly.run_folder import check_results_dir, default_results_dir
from tipsomaly.wandb_setup import is_artifact_name, prompt_file_from_artifact

DEFAULT_CONFIG = Path(__file__).with_name("default_config.yaml")
# Lightning resolves these --ckpt_path values itself.
SPECIAL_CKPT_NAMES = ("last", "best", "hpc")
# Model arguments that the data decides (linked), never taken from a checkpoint.
LINKED_MODEL_KEYS = ("image_size",)
# Set once the Trainer runs: a ValueError after that is a bug to show in full, not a bad input to report.
_STATE = {"started": False}


def run_started() -> bool:
    """Whether the last `run` got as far as starting its Trainer (errors after that are not input errors)."""
    return _STATE["started"]


class CheckpointArgumentError(ValueError):
    """--ckpt_path names something that is not a Lightning checkpoint of this model."""


class ResultsConfig(SaveConfigCallback):
    """Writes the resolved config as `<results_dir>/config.yaml` (rank 0), wherever the logger keeps its files."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, save_to_log_dir=False, **kwargs)
        self.results_dir: Optional[Path] = None

    def save_config(self, trainer, pl_module, stage: str) -> None:
        self.results_dir.mkdir(parents=True, exist_ok=True)
        path = self.results_dir / self.config_filename
        if path.exists() and not self.overwrite:  # e.g. `test` into the folder of its `fit`: keep both configs
            path = self.results_dir / f"config_{getattr(stage, 'value', stage)}.yaml"
        self.parser.save(self.config, path, skip_unset=False, overwrite=True)
        self.path = path


class TipsomalyCLI(LightningCLI):
    """LightningCLI with: image size linked from the data, env-var paths, early checks, checkpoint arguments that
    never override the user's, and a results folder that is never silently overwritten."""

    def __init__(self, args, **kwargs):
        self.results_dir: Optional[Path] = None
        super().__init__(
            Tipsomaly,
            AnomalyDataModule,
            args=args,
            save_config_callback=ResultsConfig,
            # errors raise (not print usage and exit), so `main` can report them on one line; W&B is the default
            # logger (default_config.yaml), given as class paths so that ddp_spawn can pickle what they build
            parser_kwargs={
                "parser_mode": "yaml",
                "exit_on_error": False,
                **{
                    command: {"parser_mode": "yaml", "exit_on_error": False, "default_config_files": [str(DEFAULT_CONFIG)]}
                    for command in ("fit", "validate", "test", "predict")
                },
            },
            auto_configure_optimizers=False,  # the prompts' Adam is the model's own configure_optimizers
            seed_everything_default=111,  # the paper's seed: runs repeat unless a config says otherwise
            **kwargs,
        )

    # -- parser -------------------------------------------------------------------------------
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.image_size", "model.image_size")
        parser.add_argument(
            "--results_dir", type=Optional[str], default=None,
            help="Folder for results, predictions, prompts and checkpoints (default: the run's log folder).",
        )
        parser.add_argument(
            "--overwrite", type=bool, default=False,
            help="Allow writing into a --results_dir that already holds results.",
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
            help="Overlay PNGs per class (anomalous images first) with --save_maps, and for predict.",
        )

    def _prepare_subcommand_parser(self, klass, subcommand: str, **kwargs) -> LightningArgumentParser:
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        if subcommand in ("validate", "test"):
            parser.set_defaults(verbose=False)  # the results table printed at the end says it all, per class
        if subcommand == "predict":
            parser.set_defaults(return_predictions=False)  # PredictionWriter writes them; holding all costs memory
        return parser

    def parse_arguments(self, parser: LightningArgumentParser, args) -> None:
        # `main` always passes its arguments explicitly, so LightningCLI's warning about args + sys.argv is moot.
        self._args = list(args)
        preflight.check_linked_image_size(self._args)
        self.config = parser.parse_args(self._args)

    # -- checkpoint arguments -----------------------------------------------------------------
    def _parse_ckpt_path(self) -> None:
        """Take the model arguments stored in --ckpt_path, except those the user set (config files or flags).

        Lightning >= 2.5.5 replaces every model argument with the checkpoint's; here the user's choice wins, e.g.
        `test --ckpt_path last.ckpt --model.fixed_prompts medical` tests with the medical prompts.
        """
        subcommand = self.config.get("subcommand")
        ckpt_path = subcommand and self.config[subcommand].get("ckpt_path")
        if not ckpt_path or ckpt_path in SPECIAL_CKPT_NAMES or str(ckpt_path).startswith("registry"):
            return
        ckpt_path = expand_variables(str(ckpt_path), "--ckpt_path")
        self.config[subcommand].ckpt_path = ckpt_path
        hparams = _checkpoint_hyperparameters(ckpt_path)
        accepted = set(inspect.signature(Tipsomaly.__init__).parameters) - {"self"}
        explicit = _given_keys(self.parser.parse_args(self._args, defaults=False)[subcommand].get("model"))
        stored = {
            key: value
            for key, value in _flatten(hparams).items()
            if key.split(".")[0] in accepted and key.split(".")[0] not in LINKED_MODEL_KEYS and key not in explicit
        }
        if stored:
            self.config = self.parser.parse_object({subcommand: {"model": _unflatten(stored)}}, self.config)

    # -- before anything is built -------------------------------------------------------------
    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        preflight.expand_paths(config)
        preflight.check_image_size(config.data.image_size)
        if config.results_dir:
            self.results_dir = check_results_dir(config.results_dir, self.subcommand, overwrite=config.overwrite)
        prompt_checkpoint = config.model.get("prompt_checkpoint")
        if prompt_checkpoint and is_artifact_name(str(prompt_checkpoint)):  # entity/project/name:version
            download = Path(config.results_dir or ".") / "prompts_artifact"
            config.model.prompt_checkpoint = str(prompt_file_from_artifact(str(prompt_checkpoint), download))
        preflight.check_prompt_checkpoint(config.model.get("prompt_checkpoint"))
        preflight.check_datasets(self.subcommand, config.data)

    def after_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        trainer = self.trainer
        if self.results_dir is None:
            self.results_dir = check_results_dir(default_results_dir(trainer), self.subcommand, overwrite=config.overwrite)
        results_dir = self.results_dir
        trainer.callbacks = _with_wandb_observers(trainer.callbacks)
        if self.subcommand != "fit":  # nothing to checkpoint; a loaded checkpoint's callback state is moot
            trainer.callbacks = [c for c in trainer.callbacks if not isinstance(c, ModelCheckpoint)]
            silence_callback_state_notice()
        for callback in trainer.callbacks:
            if isinstance(callback, ResultsConfig):
                callback.results_dir, callback.overwrite = results_dir, config.overwrite
            if isinstance(callback, WandbResults):
                callback.results_dir = str(results_dir)
            if isinstance(callback, ModelCheckpoint) and callback.dirpath is None:
                callback.dirpath = str(results_dir / "checkpoints")  # `test --ckpt_path <results_dir>/checkpoints/last.ckpt`
                if callback.save_last is None:
                    callback.save_last = True
        image_threshold = None
        if config.get("thresholds"):
            if self.subcommand != "predict":
                raise preflight.PreflightError(f"--thresholds is for `predict` (a decision per image), not `{self.subcommand}`; drop it")
            image_threshold = check_thresholds(config.thresholds, self.model, self.datamodule).image_threshold
        writers = [
            ResultsWriter(results_dir=str(results_dir), overwrite=True),  # the folder was checked above
            PromptWriter(dirpath=str(results_dir), overwrite=True),
            PredictionWriter(
                results_dir=str(results_dir), save_maps=config.save_maps,
                overlays_per_class=config.overlays_per_class if (config.save_maps or self.subcommand == "predict") else 0,
                image_threshold=image_threshold,
            ),
        ]
        trainer.callbacks.extend([quiet_callback(), *writers])

    def _run_subcommand(self, subcommand: str) -> None:
        _STATE["started"] = True
        super()._run_subcommand(subcommand)

    # -- after each subcommand ------------------------------------------------------------------
    def after_fit(self) -> None:
        if not self.trainer.is_global_zero:
            return
        last = self.results_dir / "checkpoints" / "last.ckpt"
        print(f"\nfit finished; files are in {self.results_dir}")
        print(f"  learned prompts: {self.results_dir / 'prompts'}")
        if last.is_file():
            print(f"  test them: tipsomaly test --config <your config> --ckpt_path {last}")

    def after_validate(self) -> None:
        self._print_results("val")

    def after_test(self) -> None:
        self._print_results("test")

    def after_predict(self) -> None:
        if self.trainer.is_global_zero:
            print(f"\npredictions written to {self.results_dir / 'predictions.csv'}")
            print(f"  overlays: {self.results_dir / 'overlays'}")

    def _print_results(self, stage: str) -> None:
        if not self.trainer.is_global_zero:
            return
        # read back from disk: under ddp_spawn the results live in the worker processes
        tables = sorted(self.results_dir.glob(f"{stage}_results*.md"), key=lambda p: p.stat().st_mtime)
        if tables:
            print("\n" + tables[-1].read_text())
        print(f"{stage} results are in {self.results_dir}")
        written = [*(p.with_suffix(".csv") for p in tables[-1:]), self.results_dir / f"{stage}_predictions.csv"]
        for path in [*written, self.results_dir / "maps", self.results_dir / "overlays"]:
            if path.exists():
                print(f"  {path}")


def _with_wandb_observers(callbacks: list) -> list:
    """The W&B observers, each unless the config gives its own (e.g. WandbImages with another per_class). They do
    nothing without a WandbLogger, so adding them here keeps them when a config lists callbacks of its own."""
    missing = [kind() for kind in (WandbResults, WandbImages) if not any(isinstance(c, kind) for c in callbacks)]
    return [*callbacks, *missing]


def _checkpoint_hyperparameters(path: str) -> dict:
    file = Path(path)
    if not file.is_file():
        raise CheckpointArgumentError(
            f"--ckpt_path '{path}' does not exist; expected a Lightning checkpoint written by `tipsomaly fit` "
            "(<results_dir>/checkpoints/last.ckpt). For a prompt file use --model.prompt_checkpoint instead."
        )
    try:
        checkpoint = torch.load(file, weights_only=True, map_location="cpu")
    except Exception as error:  # any unreadable file: say which and why, in one line
        raise CheckpointArgumentError(
            f"--ckpt_path '{path}' is not a readable Lightning checkpoint ({type(error).__name__}); pass the .ckpt "
            "written by `tipsomaly fit`, or a prompt file with --model.prompt_checkpoint."
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        hint = " It looks like a prompt file: pass it with --model.prompt_checkpoint." if isinstance(checkpoint, dict) else ""
        raise CheckpointArgumentError(
            f"--ckpt_path '{path}' is not a Lightning checkpoint (no state_dict).{hint}"
        )
    if not any(key.startswith("model.prompts") or key == "model.prompts_learned" for key in checkpoint["state_dict"]):
        raise CheckpointArgumentError(
            f"--ckpt_path '{path}' holds no Tipsomaly prompts (state_dict keys: "
            f"{', '.join(list(checkpoint['state_dict'])[:3])}, ...); pass a checkpoint written by `tipsomaly fit`."
        )
    hparams = dict(checkpoint.get("hyper_parameters") or {})
    for private in ("_instantiator", "_class_path"):
        hparams.pop(private, None)
    return hparams


def _flatten(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _unflatten(flat: dict) -> dict:
    nested: dict = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = nested
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return nested


def _given_keys(model_namespace) -> set[str]:
    """Dotted model keys the user set in config files or on the command line (parsed without defaults)."""
    if model_namespace is None:
        return set()
    values = model_namespace.as_dict() if hasattr(model_namespace, "as_dict") else dict(model_namespace)
    return {key for key, value in _flatten(values).items() if value is not None}


def run(args: list[str]) -> TipsomalyCLI:
    """Parse `args` (`fit ...`, `test ...`), check them, build model / data / trainer and run the subcommand."""
    from tipsomaly.quiet import silence_harmless_messages

    silence_harmless_messages()
    _STATE["started"] = False
    from tipsomaly.config_files import expand_config_arguments  # `config:` parents merged key by key

    return TipsomalyCLI(expand_config_arguments(args))


__all__ = ["CheckpointArgumentError", "TipsomalyCLI", "run", "run_started"]
