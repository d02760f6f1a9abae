"""`--ckpt_path`: what it may name, and how the model arguments stored in it meet the user's.

Lightning (>= 2.5.5) replaces every model argument with the checkpoint's when it parses --ckpt_path. Here the user's
choice wins for settings that only change scoring (`test --ckpt_path last.ckpt --model.fixed_prompts medical`),
and a choice that cannot work with the checkpoint's learned prompts (another n_prompt, no prompts at all) is one
clear line before anything is built.
"""

from __future__ import annotations

from pathlib import Path

import torch

from tipsomaly.paths import expand_variables

# Lightning resolves these names itself; this command keeps one checkpoint per fit, so only "last" means anything.
SPECIAL_CKPT_NAMES = ("last", "best", "hpc")
# Model arguments that the data decides (linked), never taken from a checkpoint.
LINKED_MODEL_KEYS = ("image_size", "resize")
# Model arguments that fix the shape of the learned prompts: another value cannot load the checkpoint.
PROMPT_SHAPE_KEYS = ("prompt_method", "n_prompt", "n_deep", "d_deep")


class CheckpointArgumentError(ValueError):
    """--ckpt_path names something that is not a Lightning checkpoint of this model, or conflicts with a flag."""


def resolve_ckpt_path(ckpt_path: str, subcommand: str, last_checkpoint: Path | None) -> str:
    """An existing checkpoint file's absolute path for --ckpt_path (a path, or `last` with --results_dir), or a
    one-line CheckpointArgumentError."""
    text = str(ckpt_path)
    if text in SPECIAL_CKPT_NAMES:
        if text == "last" and last_checkpoint is not None and last_checkpoint.is_file():
            return str(last_checkpoint)
        where = f" ({last_checkpoint} does not exist)" if last_checkpoint is not None else " (no --results_dir given)"
        raise CheckpointArgumentError(
            f"--ckpt_path {text} names no checkpoint{where}: {subcommand} would run with untrained prompts. "
            "Pass the file itself (--ckpt_path <results_dir>/checkpoints/last.ckpt), or `last` together with the "
            "--results_dir of that fit."
        )
    path = Path(expand_variables(text, "--ckpt_path")).expanduser().absolute()
    if path.is_dir():
        found = sorted(path.glob("**/last.ckpt"))[:1]
        hint = f"; did you mean {found[0]}?" if found else "; pass <results_dir>/checkpoints/last.ckpt."
        raise CheckpointArgumentError(f"--ckpt_path '{text}' is a folder, expected a checkpoint file{hint}")
    return str(path)


def checkpoint_hyperparameters(path: str) -> dict:
    """The model arguments stored in the Lightning checkpoint `path`; one-line errors for anything else."""
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
        raise CheckpointArgumentError(f"--ckpt_path '{path}' is not a Lightning checkpoint (no state_dict).{hint}")
    if not any(key.startswith("model.prompts") or key == "model.prompts_learned" for key in checkpoint["state_dict"]):
        raise CheckpointArgumentError(
            f"--ckpt_path '{path}' holds no Tipsomaly prompts (state_dict keys: "
            f"{', '.join(list(checkpoint['state_dict'])[:3])}, ...); pass a checkpoint written by `tipsomaly fit`."
        )
    hparams = dict(checkpoint.get("hyper_parameters") or {})
    for private in ("_instantiator", "_class_path"):
        hparams.pop(private, None)
    return hparams


def check_conflicts(path: str, stored: dict, given: dict) -> None:
    """Refuse model flags the checkpoint's learned prompts cannot be loaded with (one line, the fix)."""
    for key in PROMPT_SHAPE_KEYS:
        if key in given and key in stored and given[key] != stored[key]:
            if key == "prompt_method" and given[key] == "none":
                raise CheckpointArgumentError(
                    f"--model.prompt_method none uses no learned prompts, but --ckpt_path '{path}' is a checkpoint of "
                    "learned prompts; drop --ckpt_path to score with the fixed prompts only, or drop "
                    "--model.prompt_method to use the checkpoint's."
                )
            raise CheckpointArgumentError(
                f"--model.{key} {given[key]} differs from the checkpoint's {key}={stored[key]} ('{path}'), which fixes "
                f"the shape of its learned prompts; drop --model.{key} (it is taken from the checkpoint), or fit again "
                f"with --model.{key} {given[key]}."
            )


def flatten(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def unflatten(flat: dict) -> dict:
    nested: dict = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = nested
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return nested


def given_values(model, defaults, argv: list[str], config_model_keys: set[str] = frozenset()) -> dict:  # noqa: ANN001
    """Dotted model keys -> values the user chose: set on the command line (`--model.x`), in a --config file
    (`config_model_keys`, included files too), or different from the default."""
    def plain(namespace) -> dict:  # noqa: ANN001
        if namespace is None:
            return {}
        return flatten(namespace.as_dict() if hasattr(namespace, "as_dict") else dict(namespace))

    values, default = plain(model), plain(defaults)
    named = {arg.split("=", 1)[0][len("--model."):] for arg in argv if arg.startswith("--model.")} | set(config_model_keys)
    return {
        key: value for key, value in values.items()
        if value is not None and (value != default.get(key) or any(key == n or key.startswith(n + ".") for n in named))
    }


def stored_model_arguments(hparams: dict, accepted: set[str], given: dict) -> dict:
    """The checkpoint's model arguments to apply: accepted by the model, not linked from the data, not set by the
    user (nested: the user's `backbone.name` keeps the checkpoint's other backbone fields)."""
    return {
        key: value for key, value in flatten(hparams).items()
        if key.split(".")[0] in accepted and key.split(".")[0] not in LINKED_MODEL_KEYS and key not in given
    }
