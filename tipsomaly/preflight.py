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


def expand_paths(config) -> None:
    """Replace environment variables in dataset roots, TIPS paths and the prompt checkpoint, in place."""
    for key in ("train_sets", "val_sets", "test_sets", "predict_sets"):
        for spec in config.data.get(key) or []:
            spec.root = expand_variables(str(spec.root), f"data.{key} '{spec.name}' root")
    backbone = config.model.backbone
    for field in ("vision_checkpoint", "text_checkpoint", "tokenizer", "checkpoint_dir"):
        if backbone.get(field):
            backbone[field] = expand_variables(str(backbone[field]), f"model.backbone.{field}")
    if config.model.get("prompt_checkpoint"):
        config.model.prompt_checkpoint = expand_variables(str(config.model.prompt_checkpoint), "model.prompt_checkpoint")
    if config.get("results_dir"):
        config.results_dir = expand_variables(str(config.results_dir), "--results_dir")


def check_image_size(size: int) -> None:
    if size < PATCH_SIZE or size % PATCH_SIZE:
        suggestion = max(1, round(size / PATCH_SIZE)) * PATCH_SIZE
        raise PreflightError(
            f"--data.image_size {size} is not a multiple of the patch size {PATCH_SIZE}; use e.g. {suggestion} "
            "(the paper uses 518)."
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
    for key in SETS_READ[subcommand]:
        for spec in data.get(key) or []:
            DatasetSpec.coerce(_as_dict(spec)).read_samples()


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
