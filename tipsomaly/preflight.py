"""Checks of a parsed run config that must pass before anything is loaded, trained or tested.

Each failure is one line naming the value, what was expected and the fix. `fit` checks the test sets too:
a typo in a test root must not surface after hours of training.
"""

from __future__ import annotations

from pathlib import Path

from tipsomaly.paths import expand_variables

PATCH_SIZE = 14
# Which data lists a subcommand reads (fit also reads its test sets' folders now, to fail early).
SETS_READ = {
    "fit": ("train_sets", "val_sets", "test_sets"),
    "validate": ("val_sets",),
    "test": ("test_sets",),
    "predict": ("predict_sets",),
}
SETS_REQUIRED = {"fit": "train_sets", "validate": "val_sets", "test": "test_sets", "predict": "predict_sets"}


class PreflightError(ValueError):
    """A run config that would fail later; raised before any work starts."""


def _as_dict(value):
    return value.as_dict() if hasattr(value, "as_dict") else dict(value)


def _absolute(path: str) -> str:
    """`path` made absolute when it names a local file or folder (a hub id such as google/tips stays as it is):
    the saved config then reruns from any working folder."""
    local = Path(path).expanduser()
    return str(local.absolute()) if local.exists() else path


def expand_paths(config) -> None:
    """Replace environment variables in dataset roots, TIPS paths and the prompt checkpoint, and make the local
    ones absolute, in place (what the saved config then records)."""
    for key in ("train_sets", "val_sets", "test_sets", "predict_sets"):
        for spec in config.data.get(key) or []:
            spec.root = _absolute(expand_variables(str(spec.root), f"data.{key} '{spec.name}' root"))
    backbone = config.model.backbone
    for field in ("vision_checkpoint", "text_checkpoint", "tokenizer", "checkpoint_dir"):
        if backbone.get(field):
            backbone[field] = _absolute(expand_variables(str(backbone[field]), f"model.backbone.{field}"))
    if config.model.get("prompt_checkpoint"):
        config.model.prompt_checkpoint = _absolute(expand_variables(str(config.model.prompt_checkpoint), "model.prompt_checkpoint"))
    if config.get("results_dir"):
        config.results_dir = str(Path(expand_variables(str(config.results_dir), "--results_dir")).expanduser().absolute())
    if config.get("thresholds"):
        config.thresholds = _absolute(expand_variables(str(config.thresholds), "--thresholds"))


def check_ranges(subcommand: str, config) -> None:
    """Flags that Lightning or PyTorch would only reject deep inside the run (or accept and do nothing with)."""
    trainer, data = config.trainer, config.data
    max_epochs = trainer.get("max_epochs")
    if max_epochs is not None and (max_epochs < -1 or (subcommand == "fit" and max_epochs == 0)):
        raise PreflightError(
            f"--trainer.max_epochs {max_epochs} trains nothing; give a number of epochs >= 1 (or -1 for no limit, "
            "stopped by --trainer.max_steps or Ctrl-C)."
        )
    max_steps = trainer.get("max_steps")
    if max_steps is not None and (max_steps < -1 or (subcommand == "fit" and max_steps == 0)):
        raise PreflightError(f"--trainer.max_steps {max_steps} trains nothing; give >= 1, or -1 for no limit.")
    workers = data.get("num_workers")
    if workers is not None and workers < 0:
        raise PreflightError(f"--data.num_workers {workers} is negative; give 0 (load in the main process) or more.")
    if data.get("batch_size") is not None and data.batch_size < 1:
        raise PreflightError(f"--data.batch_size {data.batch_size} must be at least 1.")
    if config.get("overlays_per_class") is not None and config.overlays_per_class < 0:
        raise PreflightError(f"--overlays_per_class {config.overlays_per_class} is negative; give 0 (none) or more.")


def check_image_size(size: int, backbone=None) -> None:
    """The image size must fit the backbone's patch grid (TIPS 14, SigLIP 16): read from its config.json, which also
    refuses a bad backbone folder or hub id here, before any work."""
    label, patch_size = "TIPS", PATCH_SIZE
    if backbone is not None:
        from lightning_modules.backbones import backbone_patch_size

        label, patch_size = backbone_patch_size(backbone)
    if size < patch_size or size % patch_size:
        suggestion = max(1, round(size / patch_size)) * patch_size
        raise PreflightError(
            f"--data.image_size {size} is not a multiple of the patch size {patch_size}; use e.g. {suggestion} "
            f"(the patch size of backbone '{label}'{'; the paper uses 518' if patch_size == PATCH_SIZE else ''})."
        )


def check_prompt_checkpoint(path: str | None) -> None:
    if path and not Path(path).is_file():
        raise PreflightError(
            f"--model.prompt_checkpoint '{path}' does not exist; expected a prompt file "
            "(<results_dir>/prompts/learnable_prompts_epochN.pt, or the reference's learnable_params_N.pth); "
            "pass the path of an existing file."
        )


def check_datasets(subcommand: str, data) -> None:
    """Read every samples table the subcommand will use (folder listings, no decoding) and that one is given."""
    from datamodules import DatasetSpec

    required = SETS_REQUIRED[subcommand]
    if not data.get(required):
        raise PreflightError(
            f"`{subcommand}` needs --data.{required}; none is given. Add it to a --config file or pass e.g. "
            f"--data.{required} '[{{name: myset, format: mvtec, root: /data/myset}}]'."
        )
    from lightning_modules.callbacks.run_folder import path_part

    for key in SETS_READ[subcommand]:
        for spec in data.get(key) or []:
            table = DatasetSpec.coerce(_as_dict(spec)).read_samples()
            if key in ("test_sets", "predict_sets"):  # they name folders of maps and overlays: refuse `../x` now
                path_part(spec.name, f"data.{key} dataset name")
                for class_name in sorted(set(table["class_name"])):
                    path_part(class_name, f"data.{key} '{spec.name}' class name")


LINKED_MESSAGE = (
    "model.image_size follows data.image_size (one linked value, so the model and the data never disagree); "
    "remove model.image_size{where} and set --data.image_size instead."
)


def check_linked_image_size(argv: list[str]) -> None:
    """Refuse model.image_size on the command line or in any --config file (their parents too): the link would
    silently replace it with data.image_size."""
    from tipsomaly.config_files import given_configs

    for value in argv:
        if value.startswith("--model.image_size"):
            raise PreflightError(LINKED_MESSAGE.format(where=" from the command line"))
    for source, content in given_configs(argv):  # each with its `config:` parents merged in
        model = content.get("model")
        if isinstance(model, dict) and "image_size" in model:
            raise PreflightError(LINKED_MESSAGE.format(where=f" from '{source}' (or a config it starts from)"))


def check_inline_values(argv: list[str]) -> None:
    """A flow-style value (`--data.test_sets '[{name: a, root: ${HOME}/x}]'`) that is not valid YAML would reach
    jsonargparse as a plain string and fail with a list of type errors; say what is wrong with it instead. The usual
    cause: `${VAR}` unquoted inside `{...}`, where YAML reads the braces as a nested mapping."""
    import yaml

    for flag, value in zip(argv, argv[1:]):
        if not flag.startswith("--") or "=" in flag or not value.lstrip().startswith(("[", "{")):
            continue
        try:
            yaml.safe_load(value)
        except yaml.YAMLError as error:
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            hint = (" ${VAR} inside {...} reads as a nested mapping: quote that value (root: '${HOME}/data') or write $VAR"
                    if "${" in value else " check the brackets, commas and colons")
            raise PreflightError(f"{flag} {value!r} is not valid YAML ({problem});{hint}.") from None
