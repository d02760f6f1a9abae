"""Where a callback writes: the folder it was given, else the run's log folder; checked before any work."""

from __future__ import annotations

import os
import re
from pathlib import Path

import lightning as L


RUNS_FOLDER = "tipsomaly_runs"


def next_version_dir(root: str | os.PathLike) -> Path:
    """`<root>/version_<N>` with N one above the highest existing version (0 for an empty root)."""
    root = Path(root)
    versions = [int(m.group(1)) for p in root.glob("version_*") if (m := re.fullmatch(r"version_(\d+)", p.name))]
    return root / f"version_{max(versions) + 1 if versions else 0}"


def resolve_folder(folder: str | os.PathLike | None, trainer: L.Trainer) -> Path:
    """`folder`; else the logger's versioned run folder; else (no logger) a new per-run folder
    `<default_root_dir>/tipsomaly_runs/version_N`, the same for every callback of this trainer.
    Never the bare working directory, where a second run would overwrite the first."""
    if folder is not None:
        return Path(folder)
    if trainer.logger is not None and trainer.log_dir:
        return Path(trainer.log_dir)
    run_folder = getattr(trainer, "_tipsomaly_run_folder", None)
    if run_folder is None:
        run_folder = next_version_dir(Path(trainer.default_root_dir) / RUNS_FOLDER)
        trainer._tipsomaly_run_folder = run_folder  # one folder per trainer, shared by its callbacks
    return run_folder


def check_writable(folder: Path, existing: list[str], overwrite: bool, flag: str) -> None:
    """Refuse a folder that is a file, or that already holds any of `existing` (glob patterns) unless `overwrite`."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"results folder {folder} is a file; expected a folder; pass another path")
    if not overwrite and folder.is_dir():
        found = sorted(str(path) for pattern in existing for path in folder.glob(pattern))
        if found:
            raise FileExistsError(f"{found[0]} exists and would be overwritten; choose another folder or pass {flag} to replace it")
