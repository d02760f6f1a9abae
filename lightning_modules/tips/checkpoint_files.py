"""Reading the official TIPS files: `<name>_vision.npz`, `<name>_text.npz`, `tokenizer.model`."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import TipsCheckpointError
from .presets import OFFICIAL_CHECKPOINTS, TOKENIZER_FILE, official_stem

# A key that only one of the two towers' files has, to tell them apart.
VISION_MARKER = "patch_embed.proj.weight"
TEXT_MARKER = "token_embedding.weight"


@dataclass(frozen=True)
class TipsFiles:
    vision: Path
    text: Path
    tokenizer: Path


def official_files(name: str, checkpoint_dir: str | Path) -> TipsFiles:
    """Paths of an official checkpoint in the folder holding the official downloads.

    The folder must hold `<stem>_vision.npz`, `<stem>_text.npz` and the shared `tokenizer.model`.
    """
    stem = official_stem(name)
    folder = Path(checkpoint_dir).expanduser()
    files = TipsFiles(folder / f"{stem}_vision.npz", folder / f"{stem}_text.npz", folder / TOKENIZER_FILE)
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
