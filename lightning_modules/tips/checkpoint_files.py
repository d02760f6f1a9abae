"""Reading the official TIPS files: `<name>_vision.npz`, `<name>_text.npz`, `tokenizer.model`."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from lightning_modules.hub import looks_like_hub_id

from .errors import TipsCheckpointError
from .presets import OFFICIAL_CHECKPOINTS, TOKENIZER_FILE, official_stem

# A key that only one of the two towers' files has, to tell them apart.
VISION_MARKER = "patch_embed.proj.weight"
TEXT_MARKER = "token_embedding.weight"


@dataclass(frozen=True)
class TipsFiles:
    """The files a TIPS model was read from. A Hugging Face folder holds both towers in one file (vision == text)."""

    vision: Path
    text: Path
    tokenizer: Path
    config: Path | None = None  # a Hugging Face folder's config.json
    hub_id: str | None = None  # the hub id the folder was resolved from
    revision: str | None = None  # the hub snapshot's commit
    label: str | None = None  # the name it was asked for: official short name, hub id or folder name

    @property
    def paths(self) -> list[Path]:
        return list(dict.fromkeys(p for p in (self.vision, self.text, self.tokenizer, self.config) if p is not None))


def check_naming(
    vision_checkpoint: str | Path | None,
    text_checkpoint: str | Path | None,
    tokenizer: str | Path | None,
    name: str | None,
    checkpoint_dir: str | Path | None,
) -> None:
    """Refuse any mix of the two exclusive ways to name a checkpoint, without touching the disk.

    One way is `name` + `checkpoint_dir`, the other all three explicit paths. A name given with a path is
    refused rather than letting one silently win: whoever passes a path expects it to be used.
    """
    paths = {"vision_checkpoint": vision_checkpoint, "text_checkpoint": text_checkpoint, "tokenizer": tokenizer}
    for argument, value in {**paths, "checkpoint_dir": checkpoint_dir}.items():
        if value is not None and (not isinstance(value, (str, PathLike)) or not str(value)):
            raise TipsCheckpointError(f"{argument}={value!r}: expected a file or folder path (a non-empty string)")
    given = [argument for argument, value in paths.items() if value is not None]
    if isinstance(name, str) and looks_like_hub_id(name):
        if given or checkpoint_dir is not None:
            extra = ", ".join(given + ["checkpoint_dir"] * (checkpoint_dir is not None))
            raise TipsCheckpointError(
                f"name={name!r} is a Hugging Face hub id, read from the local hub cache, and {extra} were also given. "
                f"Fix: drop {extra}, or give checkpoint_dir=FOLDER alone for a downloaded Hugging Face folder"
            )
        return
    if name is not None:
        if not isinstance(name, str):
            raise TipsCheckpointError(f"name={name!r}: expected an official checkpoint name such as 'tips-v2-l14'")
        official = name in OFFICIAL_CHECKPOINTS or name in OFFICIAL_CHECKPOINTS.values()
        if not official and Path(name).expanduser().is_dir():
            raise TipsCheckpointError(
                f"name={name!r} is a folder; give a Hugging Face folder as checkpoint_dir={name!r} (without name), "
                f"and name only an official checkpoint ('tips-v2-l14') or a hub id ('google/tipsv2-l14')"
            )
        try:
            official_stem(name)
        except ValueError as error:
            raise TipsCheckpointError(str(error)) from None
        if given:
            raise TipsCheckpointError(
                f"name={name!r} and {', '.join(given)} were both given; name + checkpoint_dir and explicit paths are "
                f"two exclusive ways to choose a checkpoint. Fix: drop {', '.join(given)}, or set name to null"
            )
        if checkpoint_dir is None:
            raise TipsCheckpointError(f"name={name!r} needs checkpoint_dir, the folder holding the official TIPS downloads")
        return
    if checkpoint_dir is not None:
        if given:
            raise TipsCheckpointError(
                f"checkpoint_dir={str(checkpoint_dir)!r} (without name: a Hugging Face folder) and {', '.join(given)} were both "
                f"given; they are two exclusive ways to choose a checkpoint. Fix: drop {', '.join(given)}, or drop checkpoint_dir "
                f"(with name, one of {', '.join(OFFICIAL_CHECKPOINTS)}, checkpoint_dir is the folder of the official .npz files)"
            )
        return  # a Hugging Face folder: config.json, model.safetensors, tokenizer.model (checked when loaded)
    if len(given) < 3:
        missing = [argument for argument in paths if argument not in given]
        raise TipsCheckpointError(
            f"give either name + checkpoint_dir, or all of vision_checkpoint, text_checkpoint and tokenizer "
            f"(missing {', '.join(missing)}) for official .npz files; or checkpoint_dir alone for a Hugging Face "
            f"folder, or name as a hub id ('google/tipsv2-b14')"
        )


def resolve_files(
    vision_checkpoint: str | Path | None,
    text_checkpoint: str | Path | None,
    tokenizer: str | Path | None,
    name: str | None,
    checkpoint_dir: str | Path | None,
) -> TipsFiles:
    """The three files, named one way only (see `check_naming`); official files must all exist."""
    check_naming(vision_checkpoint, text_checkpoint, tokenizer, name, checkpoint_dir)
    if name is not None:
        return official_files(name, checkpoint_dir)
    vision, text, tokenizer = (Path(value).expanduser() for value in (vision_checkpoint, text_checkpoint, tokenizer))
    return TipsFiles(vision, text, tokenizer, label=vision.name.removesuffix(".npz").removesuffix("_vision"))


def official_files(name: str, checkpoint_dir: str | Path) -> TipsFiles:
    """Paths of an official checkpoint in the folder holding the official downloads.

    The folder must hold `<stem>_vision.npz`, `<stem>_text.npz` and the shared `tokenizer.model`.
    """
    stem = official_stem(name)
    folder = Path(checkpoint_dir).expanduser()
    files = TipsFiles(folder / f"{stem}_vision.npz", folder / f"{stem}_text.npz", folder / TOKENIZER_FILE, label=name)
    missing = [str(p) for p in (files.vision, files.text, files.tokenizer) if not p.is_file()]
    if missing:
        raise TipsCheckpointError(
            f"TIPS checkpoint {name!r} is incomplete in {folder}: missing {', '.join(missing)}. "
            "Download the files with the official TIPS repository's pytorch/checkpoints/download_checkpoints.sh "
            f"into {folder} (short names: {', '.join(OFFICIAL_CHECKPOINTS)})"
        )
    return files


def read_npz(path: str | Path, tower: str) -> dict[str, np.ndarray]:
    """All arrays of an official `.npz` for `tower` ("vision" or "text"), never unpickling anything."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise TipsCheckpointError(f"{tower} checkpoint {path} does not exist; expected an official TIPS `*_{tower}.npz`")
    if not zipfile.is_zipfile(path):
        raise TipsCheckpointError(
            f"{path} is not a readable .npz (an .npz is a zip archive of arrays; this file is not one); "
            "re-download the official TIPS file"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise TipsCheckpointError(
                f"{path} holds pickled objects, which are never loaded (they can run code); "
                "use the official TIPS .npz, which holds plain arrays"
            ) from None
        raise TipsCheckpointError(f"{path} is not a readable .npz ({error}); re-download the official TIPS file") from None
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise TipsCheckpointError(f"{path} is not a readable .npz ({error}); re-download the official TIPS file") from None
    own, foreign = (VISION_MARKER, TEXT_MARKER) if tower == "vision" else (TEXT_MARKER, VISION_MARKER)
    other = "text" if tower == "vision" else "vision"
    if foreign in arrays and own not in arrays:
        raise TipsCheckpointError(
            f"{path} is a TIPS {other} checkpoint but was given as the {tower} checkpoint; "
            f"swap the two paths (the {tower} file is `*_{tower}.npz`)"
        )
    if own not in arrays:
        raise TipsCheckpointError(f"{path} has no {own!r}; it is not an official TIPS {tower} checkpoint (`*_{tower}.npz`)")
    return arrays


def check_keys(path: Path | str, expected: set[str], found: set[str]) -> None:
    """Every weight the tower needs, and nothing else, or an error listing the difference."""
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:8]}{' ...' if len(missing) > 8 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
        raise TipsCheckpointError(
            f"{path}: {'; '.join(parts)}. The file does not match the TIPS architecture; re-download the official file"
        )
