"""`tipsomaly sweep run FILE` (every point, locally) and `tipsomaly sweep point ARGS` (one point: the W&B agent's)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tipsomaly.report.build import markdown_table
from tipsomaly.sweep.points import PointFailed, run_point
from tipsomaly.sweep.runner import RESULTS, SweepInterrupted, SweepStopped, _point_parser, run_sweep
from tipsomaly.sweep.sweep_file import SweepFileError

SHIPPED_SWEEPS = Path(__file__).resolve().parents[2] / "configs" / "sweeps"
RUN_HELP = """Run the points of a W&B sweep file locally, offline, through `tipsomaly sweep point` (fit, then test).

A relative --config in the sweep file's command is relative to the sweep file's folder (the shipped files in
configs/sweeps/ say --config ../mvtec_to_visa.yaml), so a sweep runs from any working folder.
Each point goes to OUT/runNNN/{fit,test}; OUT/sweep_results.csv and .md are rewritten after every point.
Rerunning into the same --out skips the points that finished with the same arguments and runs the rest.
Arguments after `--` are added to every point, e.g. `-- --trainer.accelerator=cpu`."""


def _agent_config(args: list[str]) -> list[str]:
    """`sweep point` under `wandb agent` runs in the agent's folder, not the sweep file's: a relative --config that
    is no file there is looked up beside the shipped sweep files (configs/sweeps/), as the sweep file meant it."""
    fixed, expect = [], False
    for arg in args:
        value = arg if expect else arg.split("=", 1)[1] if arg.startswith("--config=") else None
        if value and not Path(value).is_file() and (SHIPPED_SWEEPS / value).is_file():
            shipped = str((SHIPPED_SWEEPS / value).resolve())
            arg = shipped if expect else f"--config={shipped}"
        expect = arg == "--config"
        fixed.append(arg)
    return fixed


def _point_main(argv: list[str]) -> int:
    own, rest = _point_parser().parse_known_args(argv)
    from tipsomaly.wandb_setup import new_run_id

    run_id = os.environ.get("WANDB_RUN_ID") or new_run_id()
    out = Path(own.out or "sweep_runs") / run_id
    try:
        test_dir = run_point(_agent_config(rest), out, Path(own.feature_cache_dir or ".cache/tipsomaly_features"))
    except (PointFailed, FileNotFoundError) as error:
        print(f"tipsomaly sweep point: error: {error}", file=sys.stderr)
        return 1
    print(f"sweep point finished; results in {test_dir}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tipsomaly sweep", description="Run a W&B sweep file locally, offline, and collect its table.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the points of a sweep file through the CLI", description=RUN_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("sweep_file", help="a W&B sweep file (configs/sweeps/grid.yaml); its --config paths are relative to it")
    run.add_argument("--out", default="sweep_runs", help="one folder per point and sweep_results.csv/.md (default: sweep_runs)")
    run.add_argument("--count", type=int, default=None,
                     help="points to run: required for random/bayes sweeps (drawn at random); on a grid, the first N points")
    run.add_argument("--overwrite", action="store_true",
                     help="rerun every point, also finished ones and folders of another sweep (default: skip finished points)")
    sub.add_parser("point", help="one point: fit then test (the W&B agent's command)", add_help=False)
    return p


def sweep_main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done, 1 a point failed, 2 bad input (before any work), 130 / 143 Ctrl-C / SIGTERM."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["point"]:
        return _point_main(argv[1:])
    args, extra = parser().parse_known_args(argv)
    extra = extra[1:] if extra[:1] == ["--"] else extra
    try:
        table = run_sweep(args.sweep_file, args.out, count=args.count, extra_args=extra, overwrite=args.overwrite)
    except (FileNotFoundError, SweepFileError) as error:
        print(f"tipsomaly sweep: error: {error}", file=sys.stderr)
        return 2
    except SweepStopped as error:
        print(f"tipsomaly sweep: error: {error}", file=sys.stderr)
        return 1
    except SweepInterrupted as stop:
        print(f"tipsomaly sweep: {stop}", file=sys.stderr)
        return stop.status
    print(markdown_table(table))
    print(f"sweep results written to {Path(args.out) / (RESULTS + '.csv')}")
    return 0
