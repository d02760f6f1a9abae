"""Files appear whole or not at all: write to a temporary name in the same folder, rename when complete.

`datamodules` is the lowest layer of the project (the model side and the command import it, never the reverse),
so every writer of an artifact (tables, predictions, maps, checkpoints, prompts, thresholds, ONNX, reports, cache
entries) uses these two functions. A full disk or a killed process leaves at most a `.<name>.<random>.tmp` file,
never a truncated file under the final name.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

FILE_MODE = 0o644  # the usual mode for results: mkstemp's 0600 would hide them from the rest of a team


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed over `path` (mode 0644), on error removed."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; returns the final path."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)
