"""W&B as the default logger that never blocks: online with credentials, offline without, rank 0 only.

`configure_wandb` decides the mode (no prompt, no check of the key against a server); `AutoWandbLogger` is
Lightning's `WandbLogger` with that decision built in, one W&B folder per run (`<save_dir>/<run id>/wandb/`, so
runs started in one folder never collide) and the run closed when the Trainer finishes, so that `fit` then `test`
in one process make two runs. W&B never stops a run before its results: a key without a reachable server waits
`PROBE_SECONDS` at most, then logs offline; a save_dir that cannot be a folder falls back to a temporary one; both
say so once. The results files themselves go where the CLI's `--results_dir` says. `prompt_file_from_artifact`
fetches a logged prompt artifact back.
"""

from __future__ import annotations

import netrc
import os
import re
import secrets
import socket
import string
import tempfile
import threading
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_info, rank_zero_only

Mode = Literal["online", "offline", "disabled"]
MODES = ("auto", "online", "offline", "disabled")
PROBE_SECONDS = 3.0  # how long a run waits for the W&B server before it logs offline instead
DEFAULT_SERVER = "https://api.wandb.ai"


class WandbLoginError(ValueError):
    """W&B was asked to be online without credentials (a one-line error before the run)."""


def wandb_decision(mode: str = "auto") -> tuple[Mode, str]:
    """(mode, why): the mode this process will use and the reason, in words, for the messages."""
    if mode not in MODES:
        raise ValueError(f"W&B mode {mode!r} is not one of {MODES}; pass e.g. mode='offline' to log without an account.")
    if mode == "auto":
        explicit = os.environ.get("WANDB_MODE", "").strip().lower()
        if explicit in ("online", "offline", "disabled", "dryrun"):
            mode, why = ("offline" if explicit == "dryrun" else explicit), f"WANDB_MODE={explicit}"
        else:
            mode, why = ("online", "credentials found") if _has_credentials() else ("offline", "no credentials found")
    else:
        why = f"mode={mode!r}"
    if mode == "online" and not _has_credentials():
        raise WandbLoginError(f"W&B is asked to be online ({why}) but has no API key: run `wandb login` or set WANDB_API_KEY "
                              "(or WANDB_MODE=offline to log locally and `wandb sync` later).")
    return mode, why  # type: ignore[return-value]


def configure_wandb(mode: str = "auto") -> Mode:
    """The W&B mode this process will use, also exported as ``WANDB_MODE`` for wandb itself.

    mode: "auto" (the default) keeps an explicit ``WANDB_MODE`` ("online", "offline", "disabled";
    wandb's older "dryrun" means offline) and otherwise is "online" when an API key is found
    (``WANDB_API_KEY``, or the netrc entry `wandb login` writes) and "offline" when none is. Online without a key
    is a `WandbLoginError`. Nothing here starts wandb or talks to a server, so a run without credentials or
    without a terminal never waits on a login, and wandb later sees the environment as it will stay.
    """
    resolved, _ = wandb_decision(mode)
    os.environ["WANDB_MODE"] = resolved
    return resolved


def check_logger_config(logger: Any) -> None:
    """Raise `WandbLoginError` before anything is built when a configured AutoWandbLogger (a config's
    ``trainer.logger``: one, a list, or anything else) would be online without a key; jsonargparse would otherwise
    bury the message in a union-type error while instantiating it."""
    for entry in logger if isinstance(logger, list) else [logger]:
        class_path = getattr(entry, "class_path", None) or (entry.get("class_path") if isinstance(entry, dict) else None)
        if class_path and str(class_path).rsplit(".", 1)[-1] == AutoWandbLogger.__name__:
            init_args = getattr(entry, "init_args", None) or (entry.get("init_args") if isinstance(entry, dict) else None) or {}
            mode = getattr(init_args, "mode", None) or (init_args.get("mode") if isinstance(init_args, dict) else None)
            wandb_decision(mode or "auto")


def _server() -> tuple[str, int]:
    """(host, port) of the W&B server: WANDB_BASE_URL, else this wandb version's own default."""
    base = os.environ.get("WANDB_BASE_URL")
    if not base:
        import wandb

        base = wandb.Settings().base_url or DEFAULT_SERVER  # builds settings only; starts no session
    url = urlparse(base)
    return url.hostname or urlparse(DEFAULT_SERVER).hostname, url.port or (80 if url.scheme == "http" else 443)


def _has_credentials() -> bool:
    """An API key in WANDB_API_KEY or in the netrc file (``NETRC``, else ~/.netrc) for the W&B server: what
    `wandb login` writes. Read without wandb itself, whose session would otherwise start before WANDB_MODE is set."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc").expanduser()
    try:
        entry = netrc.netrc(str(path)).authenticators(_server()[0])
    except (OSError, netrc.NetrcParseError):
        return False
    return bool(entry and entry[2])


def server_unreachable(timeout: float | None = None) -> str | None:
    """None when the W&B server accepts a connection within ``timeout`` seconds (default `PROBE_SECONDS`; name lookup
    included), else why not."""
    timeout = PROBE_SECONDS if timeout is None else timeout
    host, port = _server()
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as error:
            outcome.append(f"{type(error).__name__}: {error}")

    probe = threading.Thread(target=connect, daemon=True)  # a hanging name lookup must not hold the run
    probe.start()
    probe.join(timeout)
    if not outcome:
        return f"{host}:{port} did not answer within {timeout:g} s"
    return None if outcome[0] is None else f"{host}:{port} is unreachable ({outcome[0]})"


def sync_command(run_dir: str | os.PathLike) -> str:
    """The command that uploads an offline run folder later (``wandb sync <folder>``)."""
    return f"wandb sync {Path(run_dir)}"


def new_run_id(length: int = 8) -> str:
    """A W&B-style run id (lowercase letters and digits), known before wandb starts so the run folder is too."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def unusable_folder(folder: Path) -> str | None:
    """Why ``folder`` cannot be created and written (a file on its path, no write permission), or None."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"'{existing}' is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"'{existing}' is not writable"
    return None


def fallback_folder(run_id: str) -> Path:
    return Path(tempfile.gettempdir()) / "tipsomaly_wandb" / run_id


class AutoWandbLogger(WandbLogger):
    """``WandbLogger`` that picks online/offline itself and keeps each run in its own folder.

    Args:
        save_dir: root of the W&B runs; this run's files go to ``<save_dir>/<id>/wandb/``, so two runs
            started in one folder never share one (nor does ``trainer.log_dir``, which is this folder). If that
            cannot be a folder (a file in the way, no permission), ``<tmp>/tipsomaly_wandb/<id>/`` instead, said once.
        mode: "auto" (see `configure_wandb`), "online", "offline" or "disabled". Online with a server that does
            not answer within `PROBE_SECONDS`: offline, said once.
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
        resolved, self._why = wandb_decision(mode)
        if resolved == "online" and (unreachable := server_unreachable()):
            resolved, self._why = "offline", f"credentials found, but the W&B server {unreachable}"
        os.environ["WANDB_MODE"] = resolved
        # Under `wandb agent` the run id is the agent's (WANDB_RUN_ID): a sweep point's fit and test then
        # both log into the sweep's run (the second resumes it), where the sweep reads its metric.
        run_id = id or kwargs.pop("version", None) or os.environ.get("WANDB_RUN_ID") or new_run_id()
        # absolute: wandb's service process, shared by every run of this process, may have another working dir
        run_dir = Path(save_dir).resolve() / run_id
        self._moved: str | None = None
        if problem := unusable_folder(run_dir):
            run_dir, self._moved = fallback_folder(run_id), f"{problem} (save_dir '{save_dir}')"
        if resolved == "offline" and kwargs.get("settings") is None:  # the CLI passes settings=None
            import wandb

            # wandb's own banner would repeat, less exactly, what `_announce` says (and advise `wandb online`)
            kwargs["settings"] = wandb.Settings(silent=True)
        super().__init__(
            name=name,
            save_dir=str(run_dir),
            id=run_id,
            offline=False,  # Lightning's offline flag rewrites WANDB_MODE after wandb has read it; `mode` says it
            project=project,
            log_model=log_model,
            prefix=prefix,
            mode=resolved,
            **kwargs,
        )
        self._wandb_init.pop("anonymous", None)  # wandb warns that the setting has no effect, whatever its value
        self.mode: Mode = resolved
        self._announced = False

    @property
    def experiment(self):  # noqa: ANN201 - wandb Run or RunDisabled
        if self._experiment is None:
            try:
                Path(self.save_dir).mkdir(parents=True, exist_ok=True)  # wandb.init needs it to exist
            except OSError as error:
                fallback = fallback_folder(str(self._id))
                self._moved = f"'{self.save_dir}' cannot be created ({error.strerror or error})"
                self._save_dir = self._wandb_init["dir"] = str(fallback)
                fallback.mkdir(parents=True, exist_ok=True)
        run = super().experiment
        self._announce(run)
        return run

    @rank_zero_only
    def _announce(self, run) -> None:  # noqa: ANN001
        if self._announced:
            return
        self._announced = True
        if self._moved:
            rank_zero_info(f"W&B: {self._moved}; this run's W&B files go to '{self.save_dir}' instead (results are not "
                           "affected). Move it away to use the usual folder.")
        if self.mode == "offline":
            folder = getattr(getattr(run, "settings", None), "sync_dir", None) or self.save_dir
            rank_zero_info(f"W&B is offline ({self._why}): run saved in {folder}; upload later with `{sync_command(folder)}`")
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


def artifact_folder(name: str, download_root: str | os.PathLike) -> Path:
    """This artifact's own download folder: ``<download_root>/<entity>_<project>_<name>_<version>``.

    One folder per artifact name and version, so two artifacts downloaded under one root never mix their
    files (a shared folder made an older run's ``learnable_prompts_epoch10.pt`` win over this one's)."""
    return Path(download_root) / re.sub(r"[^\w.-]+", "_", name)


def prompt_file_from_artifact(name: str, download_root: str | os.PathLike, api=None) -> Path:  # noqa: ANN001 - wandb.Api
    """Download the prompt artifact ``entity/project/name:version`` (logged by WandbResults after ``fit``)
    into its own folder under ``download_root`` (`artifact_folder`) and return the newest
    ``learnable_prompts_epochN.pt`` in it, by epoch number (epoch10 after epoch3); needs W&B online.

    An alias (``:latest``) is resolved to the version the server returns, so the folder names what was fetched."""
    from lightning_modules.tipsomaly.prompt_checkpoint import latest_prompt_file

    if api is None:
        if configure_wandb() != "online":
            raise ValueError(f"--model.prompt_checkpoint '{name}' is a W&B artifact, but W&B is offline (no credentials): "
                             "run `wandb login`, or pass the downloaded learnable_prompts_epochN.pt file.")
        import wandb

        api = wandb.Api()
    artifact = api.artifact(name, type="prompts")
    version = getattr(artifact, "version", None)
    resolved = f"{name.rsplit(':', 1)[0]}:{version}" if isinstance(version, str) and version else name
    folder = Path(artifact.download(root=str(artifact_folder(resolved, download_root))))
    found = latest_prompt_file(folder)
    if found is None:
        held = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        raise ValueError(f"W&B artifact '{name}' holds no learnable_prompts_epochN.pt ({held}); "
                         "pass a prompts artifact logged by `tipsomaly fit`.")
    return found
