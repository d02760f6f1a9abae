"""Sweeps: W&B sweep files run locally (`tipsomaly sweep run FILE`) and one sweep point (`tipsomaly sweep point`).

- `sweep_file`: read and check a sweep file, expand it into points and the agent's ``--key=value`` arguments;
- `points`: one point, ``fit`` then ``test`` with the prompts just learned, and when a point counts as finished;
- `runner`: all points, the results table after every point, resume, SIGTERM / Ctrl-C;
- `main`: the two subcommands.
"""

from tipsomaly.sweep.main import sweep_main
from tipsomaly.sweep.points import PointFailed, cli_runner, run_point
from tipsomaly.sweep.runner import SweepInterrupted, SweepStopped, run_sweep
from tipsomaly.sweep.sweep_file import (SweepFileError, agent_args, flat_parameters, grid_points, load_sweep,
                                        normalise_agent_args, random_points, sweep_points)

main = sweep_main

__all__ = ["PointFailed", "SweepFileError", "SweepInterrupted", "SweepStopped", "agent_args", "cli_runner", "flat_parameters",
           "grid_points", "load_sweep", "main", "normalise_agent_args", "random_points", "run_point", "run_sweep",
           "sweep_main", "sweep_points"]
