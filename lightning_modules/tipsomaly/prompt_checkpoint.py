"""Learned prompt vectors on disk: our own weights-only format, and import of the reference repository's files.

Our file is a `torch.save`d dict of plain tensors and plain settings, so `torch.load(weights_only=True)`
reads it without running any pickled code. The reference saves `learnable_params_<epoch>.pth` as a
pickled `torch.nn.ParameterList` of the [normal, abnormal] prompts, bare or as
`{"learnable_prompts": ...}`; those are read with the same weights-only unpickler, allowing that one
extra class and nothing else, so a tampered file is refused before any of its code can run.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import torch
from torch import Tensor
from torch.nn.modules.container import ParameterList

from datamodules.atomic_files import atomic_path

FORMAT = "tipsomaly.prompt_checkpoint"
FORMAT_VERSION = 1

SettingValue = Union[str, int, float, bool, None]

# The one class beyond torch's weights-only defaults that a reference file needs.
REFERENCE_GLOBALS = (ParameterList,)
REFERENCE_GLOBAL_NAMES = frozenset(f"{cls.__module__}.{cls.__qualname__}" for cls in REFERENCE_GLOBALS)


class PromptCheckpointError(ValueError):
    """A prompt checkpoint that cannot be used as given; the message names the file and the fix."""


@dataclass
class PromptCheckpoint:
    """Learned prompts and what is needed to use them again.

    normal, abnormal: `[n_prompt, width]` learned token vectors of the two states; width is the
    text tower's width. deep: optional `[d_deep, n_deep, width]` deep-prompt tokens.
    settings: plain values (str/int/float/bool/None), e.g. prompt_method, n_prompt, width,
    backbone, image_size, fixed_prompts, epoch.
    """

    normal: Tensor
    abnormal: Tensor
    settings: dict[str, SettingValue] = field(default_factory=dict)
    deep: Tensor | None = None

    @property
    def n_prompt(self) -> int:
        return int(self.normal.shape[0])

    @property
    def width(self) -> int:
        return int(self.normal.shape[-1])


def _plain(t: Tensor) -> Tensor:
    # A detached CPU copy of its own storage: no Parameter class, no autograd, no view of a larger buffer.
    return t.detach().to("cpu", copy=True).contiguous()


def _validate(ckpt: PromptCheckpoint, where: str) -> None:
    for name in ("normal", "abnormal"):
        t = getattr(ckpt, name)
        if not isinstance(t, Tensor) or t.dim() != 2 or not t.is_floating_point():
            shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise PromptCheckpointError(f"{where}: '{name}' prompts must be a float tensor [n_prompt, width], got {shape}")
    if ckpt.normal.shape != ckpt.abnormal.shape:
        raise PromptCheckpointError(
            f"{where}: normal prompts are {tuple(ckpt.normal.shape)} but abnormal are {tuple(ckpt.abnormal.shape)}; both states need the same [n_prompt, width]"
        )
    if ckpt.deep is not None and (not isinstance(ckpt.deep, Tensor) or ckpt.deep.dim() != 3 or ckpt.deep.shape[-1] != ckpt.width):
        shape = tuple(ckpt.deep.shape) if isinstance(ckpt.deep, Tensor) else type(ckpt.deep).__name__
        raise PromptCheckpointError(f"{where}: deep prompts must be [d_deep, n_deep, {ckpt.width}], got {shape}")
    for name, t in (("normal", ckpt.normal), ("abnormal", ckpt.abnormal), ("deep", ckpt.deep)):
        if t is not None and not torch.isfinite(t).all():
            bad = int((~torch.isfinite(t)).sum())
            raise PromptCheckpointError(f"{where}: {bad} of {t.numel()} '{name}' prompt values are NaN or infinite (a damaged file?); use an intact copy or train again")
    if not isinstance(ckpt.settings, dict):
        raise PromptCheckpointError(f"{where}: settings must be a dict of plain values, got {type(ckpt.settings).__name__}")
    for key, value in ckpt.settings.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, (str, int, float, bool))):
            raise PromptCheckpointError(f"{where}: setting {key!r} = {value!r} is not a str/int/float/bool/None; store it as one of those")
    for key, actual in (("n_prompt", ckpt.n_prompt), ("width", ckpt.width)):
        if key in ckpt.settings and ckpt.settings[key] != actual:
            raise PromptCheckpointError(f"{where}: settings say {key}={ckpt.settings[key]!r} but the prompts have {key}={actual}")


def save_prompt_checkpoint(path: str | os.PathLike, ckpt: PromptCheckpoint) -> None:
    """Write `ckpt` to `path` atomically: a reader sees the old file or the complete new one, never half of it."""
    path = Path(path)
    _validate(ckpt, str(path))
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "normal": _plain(ckpt.normal),
        "abnormal": _plain(ckpt.abnormal),
        "settings": dict(ckpt.settings),
    }
    if ckpt.deep is not None:
        payload["deep"] = _plain(ckpt.deep)
    with atomic_path(path) as temporary:  # a reader sees the old file or the complete new one (mode 0644)
        torch.save(payload, temporary)


PROMPT_FILE = re.compile(r"^learnable_prompts_epoch(\d+)\.pt$")


def latest_prompt_file(folder: str | os.PathLike) -> Path | None:
    """The `learnable_prompts_epochN.pt` in `folder` with the largest N as a number (epoch10 after epoch3), or None.

    The one finder of a run's (or a downloaded artifact's) latest prompts: a text sort would pick epoch3."""
    folder = Path(folder)
    found = [(int(m.group(1)), path) for path in folder.glob("learnable_prompts_epoch*.pt") if (m := PROMPT_FILE.match(path.name))]
    return max(found)[1] if found else None


def _forbidden_globals(path: Path) -> list[str]:
    """Globals the pickle in `path` would import beyond what we allow, read without unpickling."""
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:
        return []
    return sorted(set(found) - REFERENCE_GLOBAL_NAMES)


def _weights_only_load(path: Path) -> Any:
    try:
        with torch.serialization.safe_globals(list(REFERENCE_GLOBALS)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        forbidden = _forbidden_globals(path)
        if forbidden:
            raise PromptCheckpointError(
                f"{path}: refused to load: its pickle imports {', '.join(forbidden)}, which could run arbitrary code; "
                f"a prompt checkpoint holds only tensors (and, from the reference repository, a torch.nn.ParameterList). "
                f"Use a file you trust that was written by save_prompt_checkpoint or by the reference's train.py"
            ) from None
        raise PromptCheckpointError(f"{path}: not a readable prompt checkpoint ({str(error).splitlines()[0]}); expected a file written by torch.save") from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise PromptCheckpointError(f"{path}: not a readable prompt checkpoint ({error}); expected a file written by torch.save") from None


def _from_ours(content: dict, where: str) -> PromptCheckpoint:
    if content.get("version") != FORMAT_VERSION:
        raise PromptCheckpointError(f"{where}: prompt checkpoint version {content.get('version')!r}, this code reads version {FORMAT_VERSION}; update the code or re-save the prompts")
    missing = {"normal", "abnormal", "settings"} - set(content)
    if missing:
        raise PromptCheckpointError(f"{where}: prompt checkpoint lacks {sorted(missing)}; it was not written completely by save_prompt_checkpoint")
    return PromptCheckpoint(normal=content["normal"], abnormal=content["abnormal"], settings=content["settings"], deep=content.get("deep"))


def _reference_tensors(value: Any, what: str, where: str) -> list[Tensor]:
    if not isinstance(value, ParameterList):
        raise PromptCheckpointError(f"{where}: {what} is a {type(value).__name__}, expected the reference's torch.nn.ParameterList")
    return [_plain(p) for p in value]


def _from_reference(content: Any, where: str) -> PromptCheckpoint:
    if isinstance(content, dict):
        known = {"learnable_prompts", "deep_parameters"}
        if "learnable_prompts" not in content or set(content) - known:
            raise PromptCheckpointError(
                f"{where}: unrecognised content: a dict with keys {sorted(map(str, content))}; expected our prompt checkpoint "
                f"(written by save_prompt_checkpoint) or the reference's {{'learnable_prompts': ParameterList}}"
            )
        prompts, deep = content["learnable_prompts"], content.get("deep_parameters")
    elif isinstance(content, ParameterList):
        prompts, deep = content, None
    else:
        raise PromptCheckpointError(
            f"{where}: unrecognised content of type {type(content).__name__}; expected our prompt checkpoint "
            f"(written by save_prompt_checkpoint) or the reference's learnable_params_<epoch>.pth"
        )
    tensors = _reference_tensors(prompts, "learnable_prompts", where)
    if len(tensors) != 2:
        raise PromptCheckpointError(f"{where}: learnable_prompts holds {len(tensors)} tensors, expected 2 (normal, abnormal)")
    deep_tensor = None
    if deep is not None:
        deep_list = _reference_tensors(deep, "deep_parameters", where)
        if not deep_list or any(t.shape != deep_list[0].shape or t.dim() != 2 for t in deep_list):
            raise PromptCheckpointError(f"{where}: deep_parameters must be d_deep tensors of one shape [n_deep, width], got {[tuple(t.shape) for t in deep_list]}")
        deep_tensor = torch.stack(deep_list)
    normal, abnormal = tensors
    settings: dict[str, SettingValue] = {"source": "reference", "source_file": Path(where).name}
    if normal.dim() == 2:
        settings.update(n_prompt=int(normal.shape[0]), width=int(normal.shape[1]))
    return PromptCheckpoint(normal=normal, abnormal=abnormal, settings=settings, deep=deep_tensor)


def load_prompt_checkpoint(path: str | os.PathLike, expected_width: int | None = None, backbone: dict | None = None) -> PromptCheckpoint:
    """Read prompts written by `save_prompt_checkpoint` or by the reference's `train.py`; tensors come back on the CPU.

    expected_width: the backbone's text width; prompts of another width are refused, since
    they were trained with another backbone. backbone: the identity of the backbone that will use them
    (`backbones.protocol.identity_of`): a file that records another backbone's fingerprint is refused, even of
    the same width; a file that records none (older files, the reference's) loads with a warning.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prompt_checkpoint.py: no prompt checkpoint at '{path}'; check the path (the reference names them learnable_params_<epoch>.pth)")
    content = _weights_only_load(path)
    where = str(path)
    if isinstance(content, dict) and content.get("format") == FORMAT:
        ckpt = _from_ours(content, where)
    else:
        ckpt = _from_reference(content, where)
    _validate(ckpt, where)
    if expected_width is not None and ckpt.width != expected_width:
        raise PromptCheckpointError(
            f"prompts in {path} are {ckpt.width} wide but the backbone's text width is {expected_width}; use the checkpoint trained with that backbone"
        )
    if backbone is not None:
        from lightning_modules.backbones.protocol import check_prompt_kind

        check_prompt_kind(ckpt.settings, backbone.get("kind"), where)
        recorded = ckpt.settings.get("backbone_fingerprint")
        if recorded is None:
            warnings.warn(f"{path} does not record which backbone it was trained with (an older or the reference's file); make sure it is {backbone.get('label')!r}", stacklevel=2)
        elif recorded != backbone.get("fingerprint"):
            raise PromptCheckpointError(
                f"prompts in {path} were trained with backbone {ckpt.settings.get('backbone')!r} (fingerprint {str(recorded)[:12]}) but the model uses "
                f"{backbone.get('label')!r} ({str(backbone.get('fingerprint'))[:12]}); use the prompts trained with this backbone, or that backbone"
            )
    return ckpt
