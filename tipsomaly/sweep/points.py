"""One sweep point: ``fit`` (learn the prompts), then ``test`` with the prompts just learned, into ``<run>/fit`` and
``<run>/test``; every point of a sweep shares one disk cache of the frozen image features.

``<run>/point.json`` records the point's arguments when it starts: a point is finished when its test results
exist and its recorded arguments are those asked now, so a rerun into the same folder skips it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from datamodules.atomic_files import write_text_atomic
from lightning_modules.tipsomaly.prompt_checkpoint import latest_prompt_file

Runner = Callable[[list[str]], None]
POINT_FILE = "point.json"


class PointFailed(Exception):
    """A `tipsomaly` command of a point exited non-zero; its own one-line message is already printed."""

    def __init__(self, args: list[str], status: object):
        super().__init__(f"`tipsomaly {args[0]}` exited with status {status} (its message is above)")
        self.args_given, self.status = args, status


def cli_runner(args: list[str]) -> None:
    """Runs ``tipsomaly ARGS`` in this process; a non-zero status (returned, or a SystemExit from jsonargparse or
    Lightning) becomes `PointFailed`, so the caller prints one line and no traceback."""
    from tipsomaly.cli import main

    try:
        status = main(args=args)
    except SystemExit as stop:  # Lightning's SIGTERMException is one, with code None: a killed run is no success
        status = "SIGTERM" if type(stop).__name__ == "SIGTERMException" else stop.code
    if status:
        raise PointFailed(args, status)


def run_point(args: list[str], run_dir: Path, cache_dir: Path, runner: Runner = cli_runner, overwrite: bool = False) -> Path:
    """fit then test one point; args: the config and agent arguments. Returns the test results folder.

    overwrite: redo the point in a folder that holds its earlier, unfinished or replaced, files."""
    from tipsomaly.sweep.sweep_file import normalise_agent_args

    args = normalise_agent_args(list(args))
    cache = ["--model.feature_cache=disk", f"--model.feature_cache_dir={cache_dir}"]
    again = ["--overwrite=true"] if overwrite else []
    runner(["fit", *args, *cache, *again, f"--results_dir={run_dir / 'fit'}"])
    prompts = latest_prompt_file(run_dir / "fit" / "prompts")
    if prompts is None:
        raise FileNotFoundError(f"fit wrote no prompts into '{run_dir / 'fit' / 'prompts'}'; check its log above "
                                "(trainer.max_epochs must be at least 1).")
    runner(["test", *args, *cache, *again, f"--model.prompt_checkpoint={prompts}", f"--results_dir={run_dir / 'test'}"])
    return run_dir / "test"


def record_point(run_dir: Path, arguments: list[str], point: dict) -> None:
    """Write ``<run>/point.json`` (atomically) before the point's work starts: its arguments, and the swept values
    (which the report shows)."""
    write_text_atomic(run_dir / POINT_FILE, json.dumps({"arguments": arguments, "point": point}, indent=1, default=str) + "\n")


def recorded_arguments(run_dir: Path) -> list[str] | None:
    """The arguments ``<run>/point.json`` records; None without a readable one."""
    try:
        return list(json.loads((run_dir / POINT_FILE).read_text())["arguments"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_finished(run_dir: Path, arguments: list[str]) -> bool:
    """Its test results exist and it ran with exactly these arguments."""
    return (run_dir / "test" / "test_results.csv").is_file() and recorded_arguments(run_dir) == arguments
