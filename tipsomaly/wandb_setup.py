"""W&B as the default logger that never blocks: online with credentials, offline without, rank 0 only.

`configure_wandb` decides the mode with the wandb API (no prompt, no check of the key against a server),
and `AutoWandbLogger` is Lightning's `WandbLogger` with that decision built in, one W&B folder per run
(`<save_dir>/<run id>/wandb/`, so runs started in one folder never collide) and the run closed when the
Trainer finishes, so that `fit` then `test` in one process make two runs. The results files themselves go
where the CLI's `--results_dir` says. `prompt_file_from_artifact` fetches a logged prompt artifact back.
"""

from __future__ import annotations

import os
import re
import secrets
import string
from pathlib import Path
from typing import Any, Literal

from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_info, rank_zero_only

Mode = Literal["online", "offline", "disabled"]
MODES = ("auto", "online", "offline", "disabled")

def configure_wandb(mode: str = "auto") -> Mode:
    """The W&B mode this process will use, also exported as ``WANDB_MODE`` for wandb itself.

    mode: "auto" (the default) keeps an explicit ``WANDB_MODE`` ("online", "offline", "disabled";
    wandb's older "dryrun" means offline) and otherwise is "online" when wandb finds an API key
    (``WANDB_API_KEY`` or a netrc entry written by ``wandb login``) and "offline" when it finds none.
    The check is ``wandb.login(prompt=False, verify=False)``: it neither asks nor talks to a server,
    so a run without credentials or without a terminal never waits on a login.
    """
    if mode not in MODES:
        raise ValueError(f"W&B mode {mode!r} is not one of {MODES}; pass e.g. mode='offline' to log without an account.")
    if mode == "auto":
        explicit = os.environ.get("WANDB_MODE", "").strip().lower()
        if explicit in ("online", "offline", "disabled", "dryrun"):
            mode = "offline" if explicit == "dryrun" else explicit
        else:
            mode = "online" if _has_credentials() else "offline"
    os.environ["WANDB_MODE"] = mode
    return mode  # type: ignore[return-value]


def _has_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    import wandb

    try:
        # With prompt=False wandb returns False (or raises on some versions) when it finds no key.
        return bool(wandb.login(prompt=False, verify=False))
    except Exception:  # noqa: BLE001 - any failure here simply means "no usable credentials"
        return False


def sync_command(run_dir: str | os.PathLike) -> str:
    """The command that uploads an offline run folder later (``wandb sync <folder>``)."""
    return f"wandb sync {Path(run_dir)}"


def new_run_id(length: int = 8) -> str:
    """A W&B-style run id (lowercase letters and digits), known before wandb starts so the run folder is too."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


class AutoWandbLogger(WandbLogger):
    """``WandbLogger`` that picks online/offline itself and keeps each run in its own folder.

    Args:
        save_dir: root of the W&B runs; this run's files go to ``<save_dir>/<id>/wandb/``, so two runs
            started in one folder never share one (nor does ``trainer.log_dir``, which is this folder).
        mode: "auto" (see `configure_wandb`), "online", "offline" or "disabled".
        id: the W&B run id (default: ``WANDB_RUN_ID`` as set by ``wandb agent``, else a new one).
        project, name, log_model, prefix, **kwargs: as in Lightning's ``WandbLogger`` / ``wandb.init``.

    Only rank 0 creates the W&B run (Lightning's ``rank_zero_experiment``); the other ranks get a
    dummy and the Trainer broadcasts rank 0's folder as ``trainer.log_dir``.
    """

    def __init__(
        self,
        save_dir: str | os.PathLike = "tipsomaly_runs/wandb",
        project: str | None = "tipsomaly",
        name: str | None = None,
        mode: str = "auto",
        id: str | None = None,  # noqa: A002 - wandb's own argument name
        log_model: bool | Literal["all"] = False,
        prefix: str = "",
        **kwargs: Any,
    ) -> None:
        resolved = configure_wandb(mode)
        # Under `wandb agent` the run id is the agent's (WANDB_RUN_ID): a sweep point's fit and test then
        # both log into the sweep's run (the second resumes it), where the sweep reads its metric.
        run_id = id or kwargs.pop("version", None) or os.environ.get("WANDB_RUN_ID") or new_run_id()
        # absolute: wandb's service process, shared by every run of this process, may have another working dir
        run_dir = Path(save_dir).resolve() / run_id
        super().__init__(
            name=name,
            save_dir=str(run_dir),
            id=run_id,
            offline=resolved == "offline",
            project=project,
            log_model=log_model,
            prefix=prefix,
            mode=resolved,
            **kwargs,
        )
        self.mode: Mode = resolved
        self._announced = False

    @property
    def experiment(self):  # noqa: ANN201 - wandb Run or RunDisabled
        if self._experiment is None:
            Path(self.save_dir).mkdir(parents=True, exist_ok=True)  # wandb.init needs it to exist
        run = super().experiment
        self._announce(run)
        return run

    @rank_zero_only
    def _announce(self, run) -> None:  # noqa: ANN001
        if self._announced:
            return
        self._announced = True
        if self.mode == "offline":
            folder = getattr(getattr(run, "settings", None), "sync_dir", None) or self.save_dir
            rank_zero_info(f"W&B is offline (no credentials found): run saved in {folder}; upload later with `{sync_command(folder)}`")
        elif self.mode == "online" and getattr(run, "url", None):
            rank_zero_info(f"W&B run: {run.url}")

    @rank_zero_only
    def finalize(self, status: str) -> None:
        try:
            super().finalize(status)
        finally:
            # Close the run so that a later Trainer in this process (test after fit, a sweep) starts its own.
            if self._experiment is not None and hasattr(self._experiment, "finish"):
                self._experiment.finish(exit_code=0 if status == "success" else 1)
                self._experiment = None


ARTIFACT_NAME = re.compile(r"^[\w.-]+/[\w.-]+/[\w.-]+:[\w.-]+$")


def is_artifact_name(value: str) -> bool:
    """Whether ``value`` reads as a W&B artifact name ``entity/project/name:version`` (and is no existing file)."""
    return bool(ARTIFACT_NAME.match(value)) and not Path(value).exists()


def prompt_file_from_artifact(name: str, download_root: str | os.PathLike) -> Path:
    """Download the prompt artifact ``entity/project/name:version`` (logged by WandbResults after ``fit``)
    into ``download_root`` and return its ``learnable_prompts_epochN.pt``; needs W&B online."""
    if configure_wandb() != "online":
        raise ValueError(f"--model.prompt_checkpoint '{name}' is a W&B artifact, but W&B is offline (no credentials): "
                         "run `wandb login`, or pass the downloaded learnable_prompts_epochN.pt file.")
    import wandb

    folder = Path(wandb.Api().artifact(name, type="prompts").download(root=str(download_root)))
    from lightning_modules.tipsomaly.prompt_checkpoint import latest_prompt_file  # helper B: the one finder, by epoch number

    latest = latest_prompt_file(folder)
    if latest is None:
        raise ValueError(f"W&B artifact '{name}' holds no learnable_prompts_epochN.pt ({[p.name for p in folder.iterdir()]}); "
                         "pass a prompts artifact logged by `tipsomaly fit`.")
    return latest
