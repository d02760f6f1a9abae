"""`RunFolder`: the one owner of every path of a run. The CLI makes one and hands it to every writer and observer;
without the CLI (a plain `Trainer`) each writer falls back to `default_run_folder(trainer)`, the same for all of them.

    <root>/
      config_fit.yaml, config_test.yaml, ...   the resolved config, one per stage (old folders: config.yaml)
      run.lock                                 held (created exclusively) while a run writes here
      test_results.csv/.md, test_predictions.csv, test_provenance.json
      val_results_epochN.csv/.md
      predictions.csv, predict_provenance.json
      prompts/learnable_prompts_epochN.pt, checkpoints/last.ckpt
      maps/<dataset>/<class>.npz, overlays/<dataset>/<class>/<defect>_<stem>.png
      few_shot_references.json

Path parts built from dataset and class names go through `path_part`: a name can never move a file out of the root.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import weakref
from dataclasses import dataclass, field
from pathlib import Path

RUNS_FOLDER = "tipsomaly_runs"
LEGACY_CONFIG = "config.yaml"
# Per stage, what a run of that stage writes (glob patterns under the root): "the folder already holds results of
# this stage" and "--overwrite removes the previous run's files" both read this one table. A stage's config belongs
# to it too; another stage's config never does.
STAGE_FILES = {
    "fit": ("config_fit.yaml", "prompts", "checkpoints", "val_results_epoch*"),
    "validate": ("config_validate.yaml", "val_results_epoch*"),
    "test": ("config_test.yaml", "test_results.*", "test_predictions.csv", "test_provenance.json", "maps", "overlays",
             "few_shot_references.json"),
    "predict": ("config_predict.yaml", "predictions.csv", "predict_provenance.json", "overlays"),
}
# The files whose presence means "results of this stage are here" (a config alone is not a result).
RESULT_FILES = {stage: tuple(p for p in patterns if not p.startswith("config_")) for stage, patterns in STAGE_FILES.items()}


def stage_name(stage) -> str:
    """"test" for "test" or Lightning's `TrainerFn.TESTING` (a str enum whose str() is its class path)."""
    return str(getattr(stage, "value", stage))


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked (a file, holds earlier results, in use, a name that escapes it)."""


class RunFolderExistsError(RunFolderError, FileExistsError):
    """The folder holds results of the same stage from an earlier run."""


def path_part(value: str, what: str) -> str:
    """`value` if it is a safe single path component; a RunFolderError naming it otherwise.

    Dataset and class names become folder names (maps/<dataset>/<class>.npz): `../x` or `a/b` would write
    outside the results folder or somewhere unexpected."""
    text = str(value)
    if not text or text in (".", "..") or "/" in text or "\\" in text or "\x00" in text:
        raise RunFolderError(
            f"{what} '{text}' cannot be a folder name in the results folder (empty, '.', '..', or holds '/' or '\\'); "
            "rename it in the dataset spec (name: ...) to plain letters, digits, '-' or '_'."
        )
    return text


@dataclass
class RunFolder:
    """The paths of one run under `root` (made absolute, so a saved path reruns from any working folder).

    `prepared_for` is the stage the CLI already checked (and cleared, with --overwrite): writers then skip their own
    check."""

    root: Path
    prepared_for: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        self.root = Path(os.path.expanduser(str(self.root))).absolute()

    # -- the layout -------------------------------------------------------------------------------
    def config(self, stage: str) -> Path:
        return self.root / f"config_{stage}.yaml"

    def config_to_read(self, stage: str) -> Path | None:
        """The config of `stage`; for folders written before one-config-per-stage, the old `config.yaml`."""
        for path in (self.config(stage), self.root / LEGACY_CONFIG):
            if path.is_file():
                return path
        return None

    def results_stem(self, stage: str, epoch: int | None = None) -> Path:
        """`test_results` (test) or `val_results_epochN` (validation after epoch N): add .csv / .md."""
        return self.root / ("test_results" if stage == "test" else f"val_results_epoch{epoch}")

    def predictions(self, stage: str) -> Path:
        return self.root / ("test_predictions.csv" if stage == "test" else "predictions.csv")

    def provenance(self, stage: str) -> Path:
        return self.root / f"{stage}_provenance.json"

    @property
    def prompts(self) -> Path:
        return self.root / "prompts"

    def prompt_file(self, epoch: int) -> Path:
        return self.prompts / f"learnable_prompts_epoch{epoch}.pt"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @property
    def maps(self) -> Path:
        return self.root / "maps"

    def map_file(self, dataset: str, class_name: str, suffix: str = ".npz") -> Path:
        return self._inside(self.maps / path_part(dataset, "dataset name") / f"{path_part(class_name, 'class name')}{suffix}")

    @property
    def overlays(self) -> Path:
        return self.root / "overlays"

    def overlay_file(self, dataset: str, class_name: str, name: str) -> Path:
        folder = self.overlays / path_part(dataset, "dataset name") / path_part(class_name, "class name")
        return self._inside(folder / f"{path_part(name, 'overlay name')}.png")

    @property
    def few_shot_references(self) -> Path:
        return self.root / "few_shot_references.json"

    @property
    def lock(self) -> Path:
        return self.root / "run.lock"

    def _inside(self, path: Path) -> Path:
        if not path.resolve().is_relative_to(self.root.resolve()):  # a symlinked folder inside the root, say
            raise RunFolderError(f"'{path}' would be written outside the results folder {self.root}; refusing.")
        return path

    # -- what a stage wrote -------------------------------------------------------------------------
    def stage_files(self, stage: str, results_only: bool = False) -> list[Path]:
        """Existing files and folders that a run of `stage` writes, in the table's order (results tables first)."""
        patterns = (RESULT_FILES if results_only else STAGE_FILES)[stage_name(stage)]
        if not self.root.is_dir():
            return []
        return list(dict.fromkeys(path for pattern in patterns for path in sorted(self.root.glob(pattern))))

    def check(self, stage: str, overwrite: bool) -> None:
        """Refuse a root that is a file, or that holds results of `stage` when not `overwrite`."""
        if self.root.exists() and not self.root.is_dir():
            raise RunFolderError(
                f"--results_dir '{self.root}' is a file, expected a folder for the run's results; pass a folder path."
            )
        existing = next((p for p in [self.root, *self.root.parents] if p.exists()), None)
        if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
            raise RunFolderError(
                f"--results_dir '{self.root}' cannot be written ({existing} is read-only for this user); choose a "
                "folder you can write to."
            )
        found = self.stage_files(stage, results_only=True)
        if found and not overwrite:
            files = [p for p in found if p.is_file()] + [f for p in found if p.is_dir() for f in sorted(p.rglob("*")) if f.is_file()]
            first = f"{(files or found)[0]} exists and would be overwritten; "
            raise RunFolderExistsError(
                f"--results_dir '{self.root}' already holds {stage_name(stage)} results of an earlier run "
                f"({', '.join(p.name for p in found)}): {first}pass --overwrite true to replace them, or choose another "
                "--results_dir."
            )

    def clear(self, stage: str) -> list[Path]:
        """Remove what an earlier run of `stage` wrote here (--overwrite): nothing stale passes for this run's."""
        removed = self.stage_files(stage)
        for path in removed:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        return removed

    # -- one run at a time --------------------------------------------------------------------------
    def claim(self, command: str) -> None:
        """Create `run.lock` exclusively (atomic: of two runs started together exactly one wins)."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            handle = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = self.lock.read_text(errors="replace").strip() or "another run"
            if _left_by_a_dead_process(holder):  # a run killed with -9 on this machine: its lock means nothing
                self.lock.unlink(missing_ok=True)
                return self.claim(command)
            raise RunFolderError(
                f"--results_dir '{self.root}' is in use by {holder} ({self.lock} exists); wait for it to finish, "
                f"choose another --results_dir, or delete {self.lock.name} if no run is using the folder."
            ) from None
        with os.fdopen(handle, "w") as lock:
            lock.write(f"tipsomaly {command} (pid {os.getpid()} on {socket.gethostname()})\n")

    def release(self) -> None:
        self.lock.unlink(missing_ok=True)

    # -- versions -------------------------------------------------------------------------------------
    @staticmethod
    def next_version(parent: str | os.PathLike) -> "RunFolder":
        """`<parent>/version_<N>`, N one above the highest existing version (0 for an empty parent)."""
        parent = Path(parent)
        versions = [int(m.group(1)) for p in parent.glob("version_*") if (m := re.fullmatch(r"version_(\d+)", p.name))]
        return RunFolder(parent / f"version_{max(versions) + 1 if versions else 0}")


def _left_by_a_dead_process(holder: str) -> bool:
    """Whether a lock's text names a process of this machine that no longer runs (other machines: never assumed)."""
    match = re.search(r"\(pid (\d+) on (.+)\)$", holder)
    if match is None or match.group(2) != socket.gethostname():
        return False
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, but not ours to signal
        return False
    return False


_DEFAULTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def default_run_folder(trainer) -> RunFolder:  # noqa: ANN001 - a lightning Trainer
    """The run folder when none is given, the same for every writer of `trainer` (call it where every rank does,
    e.g. in `setup`: rank 0's choice is broadcast).

    A CSV or TensorBoard logger's versioned folder (results beside the logs); otherwise (no logger, W&B, which keeps
    its files in its own tree) `<default_root_dir>/tipsomaly_runs/version_N`, never the bare working folder."""
    if trainer in _DEFAULTS:
        return _DEFAULTS[trainer]
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    if trainer.loggers and isinstance(trainer.loggers[0], (CSVLogger, TensorBoardLogger)):
        folder = RunFolder(trainer.loggers[0].log_dir)
    else:
        folder = RunFolder.next_version(Path(trainer.default_root_dir) / RUNS_FOLDER)
    folder = RunFolder(trainer.strategy.broadcast(str(folder.root)))
    _DEFAULTS[trainer] = folder
    return folder


class WritesToRunFolder:
    """Mixin of the callbacks that write or read a run's files: `run_folder` is given (the CLI hands its own),
    else the trainer's default."""

    run_folder: RunFolder | None = None

    def _given_folder(self, results_dir) -> None:  # noqa: ANN001
        self.run_folder = results_dir if isinstance(results_dir, RunFolder) or results_dir is None else RunFolder(results_dir)

    def folder(self, trainer) -> RunFolder:  # noqa: ANN001
        return self.run_folder if self.run_folder is not None else default_run_folder(trainer)

    def check_folder(self, trainer, stage: str, overwrite: bool) -> RunFolder:  # noqa: ANN001
        """The folder, checked for earlier results of `stage` unless the CLI already did."""
        folder = self.folder(trainer)
        if folder.prepared_for != stage:
            folder.check(stage, overwrite)
        return folder


__all__ = ["RUNS_FOLDER", "RunFolder", "RunFolderError", "WritesToRunFolder", "default_run_folder", "path_part"]
