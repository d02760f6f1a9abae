"""`tipsomaly sweep run`: every point of a sweep file, locally and offline, with one results table kept current.

The table (``<out>/sweep_results.csv`` / ``.md``) is rewritten, atomically, after every point, so a failure or a
kill keeps what finished; a rerun into the same ``--out`` skips the finished points (`points.is_finished`) and
runs the rest. SIGTERM and Ctrl-C stop the sweep with a non-zero status saying what was kept and how to resume.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from datamodules.atomic_files import write_text_atomic
from tipsomaly.report.build import markdown_table
from tipsomaly.sweep.points import PointFailed, Runner, cli_runner, is_finished, record_point, recorded_arguments, run_point
from tipsomaly.sweep.sweep_file import (SweepFileError, agent_args, command_arguments, load_sweep, resolve_configs,
                                        sweep_points)

RESULTS = "sweep_results"
SWEEP_COPY = "sweep.yaml"  # the sweep file, copied into --out


class SweepStopped(Exception):
    """A point failed; the message says which, what was kept and how to resume (one line)."""


class SweepInterrupted(BaseException):
    """SIGTERM or Ctrl-C during a sweep (a BaseException, like KeyboardInterrupt, so that nothing swallows it)."""

    def __init__(self, signal_name: str, message: str = ""):
        super().__init__(message or f"stopped by {signal_name}")
        self.signal_name = signal_name

    @property
    def status(self) -> int:
        return 128 + (signal.SIGTERM if self.signal_name == "SIGTERM" else signal.SIGINT)


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise SweepInterrupted here; Lightning, during a point, calls this handler after its own."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):  # noqa: ANN001, ARG001 - signal handler signature
        raise SweepInterrupted("SIGTERM" if signum == signal.SIGTERM else "Ctrl-C")

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def _wandb_offline() -> Iterator[None]:
    previous = os.environ.get("WANDB_MODE")
    os.environ["WANDB_MODE"] = "offline"  # a local sweep never needs an account
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("WANDB_MODE", None)
        else:
            os.environ["WANDB_MODE"] = previous


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _point_rows(name: str, point: dict, test_dir: Path) -> list[dict] | None:
    """The dataset "mean" rows of a point's test_results.csv (and the ("mean", "mean") row); None if unreadable."""
    try:
        table = pd.read_csv(test_dir / "test_results.csv")
        means = table[table["class"] == "mean"]
    except (OSError, ValueError, KeyError, pd.errors.ParserError):
        return None
    return [{"run": name, **point, **{k: v for k, v in record.items() if k != "class"}} for record in means.to_dict("records")]


def write_results(out: Path, rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """``<out>/sweep_results.csv`` and ``.md``, each written whole (temporary name, then renamed)."""
    table = pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)
    write_text_atomic(out / f"{RESULTS}.csv", table.to_csv(index=False))
    write_text_atomic(out / f"{RESULTS}.md", markdown_table(table))
    return table


def _point_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tipsomaly sweep point", add_help=False)
    p.add_argument("--feature_cache_dir", default=None)
    p.add_argument("--out", default=None)
    return p


def run_sweep(sweep_file: str | Path, out: str | Path, runner: Runner = cli_runner, count: int | None = None,
              extra_args: list[str] = (), overwrite: bool = False, echo: Callable[[str], None] = print) -> pd.DataFrame:
    """Run the points of a sweep file locally (W&B offline) and collect one table.

    Returns (and writes after every point as ``<out>/sweep_results.csv`` / ``.md``) one row per point and dataset
    (the dataset "mean" rows of its test_results.csv, plus the ("mean", "mean") row): run, the swept parameters,
    dataset, metrics in percent. Points already finished in ``out`` with the same arguments are skipped unless
    ``overwrite``. Raises SweepFileError before any work for a bad file or folder, SweepStopped when a point fails,
    SweepInterrupted on SIGTERM / Ctrl-C; the table of the finished points is on disk in each case.
    """
    sweep = load_sweep(sweep_file)
    points, how = sweep_points(sweep, count, sweep_file)
    own, fixed = _point_parser().parse_known_args(command_arguments(sweep))
    fixed = resolve_configs(fixed, Path(sweep_file).resolve().parent, f"'{sweep_file}'")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SweepFileError(f"--out '{out}' is a file; give a folder for the sweep's runs and table.")
    cache_dir = Path(own.feature_cache_dir or out / "feature_cache")
    plan = [(f"run{number:03d}", point, [*fixed, *extra_args, *agent_args(point)]) for number, point in enumerate(points)]
    for name, _, arguments in plan:  # another sweep's folder is never silently mixed into this table
        recorded = recorded_arguments(out / name)
        if not overwrite and recorded is not None and recorded != arguments:
            differ = sorted(set(recorded) ^ set(arguments))
            raise SweepFileError(f"'{out / name}' holds a point run with other arguments (differing: {' '.join(differ)}); "
                                 "pass --overwrite to run this sweep over it, or choose another --out.")
    rows: dict[str, list[dict]] = {}
    for name, point, arguments in plan:
        if not overwrite and is_finished(out / name, arguments):
            found = _point_rows(name, point, out / name / "test")
            if found is not None:
                rows[name] = found
    columns = ["run", *points[0]]
    todo = [p for p in plan if p[0] not in rows]
    resume = f"tipsomaly sweep run {sweep_file} --out {out}" + (f" --count {count}" if count else "") + \
             (" -- " + " ".join(extra_args) if extra_args else "")
    echo(f"sweep {sweep_file}: {how}; {len(rows)} already finished in {out} (skipped), {len(todo)} to run")
    seconds: list[float] = []

    def kept() -> str:
        return f"{len(rows)} of {len(plan)} points finished, kept in {out / (RESULTS + '.csv')}"

    write_results(out, [r for n, _, _ in plan for r in rows.get(n, [])], columns)  # the skipped points, at once
    write_text_atomic(out / SWEEP_COPY, Path(sweep_file).read_text())  # the report reads the swept parameters here
    try:
        with _wandb_offline(), _stop_on_signals():
            for done, (name, point, arguments) in enumerate(todo):
                run_dir = out / name
                echo(f"sweep {name} ({done + 1}/{len(todo)} to run, {len(plan)} in all): {' '.join(agent_args(point))}")
                redo = overwrite or run_dir.exists()  # this point's own earlier, unfinished files
                record_point(run_dir, arguments, point)
                start = time.monotonic()
                try:
                    test_dir = run_point(arguments, run_dir, cache_dir, runner, overwrite=redo)
                except (PointFailed, FileNotFoundError) as error:
                    raise SweepStopped(f"{name} failed: {error}; {kept()}; fix it and rerun `{resume}` for the rest.") from None
                except Exception as error:  # a bug inside the run: its traceback stays, ending with what was kept
                    if hasattr(error, "add_note"):
                        error.add_note(f"tipsomaly sweep: {name} failed; {kept()}; rerun `{resume}` for the rest.")
                    raise
                found = _point_rows(name, point, test_dir)
                if found is None:
                    raise SweepStopped(f"{name}: '{test_dir / 'test_results.csv'}' is unreadable; {kept()}; rerun `{resume}`.")
                rows[name] = found
                write_results(out, [r for n, _, _ in plan for r in rows.get(n, [])], columns)
                seconds.append(time.monotonic() - start)
                left = len(todo) - done - 1
                eta = f"; about {_duration(sum(seconds) / len(seconds) * left)} for the {left} left" if left else ""
                echo(f"sweep {name} finished in {_duration(seconds[-1])} ({len(rows)}/{len(plan)} done{eta})")
    except SweepInterrupted as stop:
        raise SweepInterrupted(stop.signal_name, f"stopped by {stop.signal_name}: {kept()}; rerun `{resume}` "
                               "to run the rest (finished points are skipped).") from None
    return write_results(out, [r for n, _, _ in plan for r in rows.get(n, [])], columns)
