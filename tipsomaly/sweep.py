"""Sweeps: W&B sweep files run locally (`tipsomaly sweep run FILE`) and one sweep point (`tipsomaly sweep point`).

A sweep file's ``command`` is ``tipsomaly sweep point <fixed args> ${args}``; the W&B agent fills ``${args}``
with ``--key=value`` pairs, which jsonargparse parses (``--model.n_prompt=16``). The local runner expands the
same file's grid, builds the same arguments and runs each point through the same command, offline.
A point is ``fit`` (learn the prompts) then ``test`` (on the target sets, with the prompts just learned); every
run of a sweep shares one disk cache of frozen image features, so only the first run encodes the images.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import yaml

from tipsomaly.report.build import markdown_table

Runner = Callable[[list[str]], None]
POINT = "point"


def load_sweep(path: str | Path) -> dict:
    """Read and check a W&B sweep file: a method, parameters, and a command that runs `tipsomaly sweep point`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep file '{path}' does not exist; see configs/sweeps/ for examples.")
    sweep = yaml.safe_load(path.read_text()) or {}
    if sweep.get("method") not in ("grid", "random", "bayes"):
        raise ValueError(f"'{path}': method is {sweep.get('method')!r}; expected grid, random or bayes.")
    if not isinstance(sweep.get("parameters"), dict) or not sweep["parameters"]:
        raise ValueError(f"'{path}': no parameters; give e.g. parameters: {{model.n_prompt: {{values: [4, 8]}}}}.")
    command = [str(c) for c in sweep.get("command") or []]
    if POINT not in command or "${args}" not in command or "${args_no_boolean_flags}" in command:
        raise ValueError(f"'{path}': command must run `tipsomaly sweep point ... ${{args}}` (never ${{args_no_boolean_flags}}), got {command}.")
    return sweep


def flat_parameters(parameters: dict, prefix: str = "") -> dict[str, dict]:
    """Nested W&B parameters ({model: {parameters: {n_prompt: {...}}}}) -> {"model.n_prompt": {...}}."""
    flat = {}
    for key, spec in parameters.items():
        if isinstance(spec, dict) and "parameters" in spec:
            flat.update(flat_parameters(spec["parameters"], f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = spec
    return flat


def grid_points(sweep: dict) -> list[dict]:
    """Every combination of the ``values`` (and fixed ``value``) of a grid sweep, in file order."""
    params = flat_parameters(sweep["parameters"])
    choices = []
    for key, spec in params.items():
        if "values" in spec:
            choices.append(list(spec["values"]))
        elif "value" in spec:
            choices.append([spec["value"]])
        else:
            raise ValueError(f"parameter {key!r} has {spec}; a grid needs `values: [...]` or `value: ...` (distributions are for random/bayes).")
    return [dict(zip(params, combo)) for combo in itertools.product(*choices)]


def random_points(sweep: dict, count: int, seed: int = 0) -> list[dict]:
    """``count`` points drawn from the parameters (values, uniform, log_uniform_values, int_uniform); the local
    stand-in for random and Bayesian search, which need the W&B sweep server."""
    rng = random.Random(seed)
    points = []
    for _ in range(count):
        point = {}
        for key, spec in flat_parameters(sweep["parameters"]).items():
            if "values" in spec:
                point[key] = rng.choice(list(spec["values"]))
            elif "value" in spec:
                point[key] = spec["value"]
            elif spec.get("distribution") in ("uniform", None) and "min" in spec:
                point[key] = rng.uniform(spec["min"], spec["max"])
            elif spec.get("distribution") == "int_uniform":
                point[key] = rng.randint(spec["min"], spec["max"])
            elif spec.get("distribution") == "log_uniform_values":
                point[key] = math.exp(rng.uniform(math.log(spec["min"]), math.log(spec["max"])))
            else:
                raise ValueError(f"parameter {key!r}: distribution {spec.get('distribution')!r} is not supported locally.")
        points.append(point)
    return points


def agent_args(point: dict) -> list[str]:
    """{"model.n_prompt": 16, "model.prompt_checkpoint": None} -> ["--model.n_prompt=16", "--model.prompt_checkpoint=null"]
    (what the W&B agent's ${args} gives, with YAML/JSON values jsonargparse reads: null, true, lists)."""
    return [f"--{key}={_value(value)}" for key, value in point.items()]


def _value(value: object) -> str:
    if value is None or isinstance(value, (bool, list, dict)):
        return json.dumps(value)
    return str(value)


def normalise_agent_args(args: list[str]) -> list[str]:
    """Python spellings an older agent may send (``=None``, ``=True``) -> YAML (``=null``, ``=true``)."""
    spelled = {"None": "null", "True": "true", "False": "false"}
    return [a.split("=", 1)[0] + "=" + spelled[a.split("=", 1)[1]] if "=" in a and a.split("=", 1)[1] in spelled else a for a in args]


def cli_runner(args: list[str]) -> None:
    """Runs ``tipsomaly ARGS`` in this process; a non-zero status becomes an error naming the command."""
    from tipsomaly.cli import main

    status = main(args=args)
    if status:
        raise RuntimeError(f"`tipsomaly {' '.join(args)}` exited with status {status}; its message is above.")


def latest_prompts(folder: Path) -> Path:
    from lightning_modules.tipsomaly.prompt_checkpoint import latest_prompt_file  # helper B: the one finder

    latest = latest_prompt_file(folder / "prompts")
    if latest is None:
        raise FileNotFoundError(f"fit wrote no prompts into '{folder / 'prompts'}'; check its log above.")
    return latest


def run_point(args: list[str], run_dir: Path, cache_dir: Path, runner: Runner = cli_runner) -> Path:
    """fit then test one point; args: the config and agent arguments. Returns the test results folder."""
    args = normalise_agent_args(list(args))
    cache = ["--model.feature_cache=disk", f"--model.feature_cache_dir={cache_dir}"]
    runner(["fit", *args, *cache, f"--results_dir={run_dir / 'fit'}"])
    prompts = latest_prompts(run_dir / "fit")
    runner(["test", *args, *cache, f"--model.prompt_checkpoint={prompts}", f"--results_dir={run_dir / 'test'}"])
    return run_dir / "test"


def run_sweep(sweep_file: str | Path, out: str | Path, runner: Runner = cli_runner, count: int | None = None,
              extra_args: list[str] = ()) -> pd.DataFrame:
    """Run every point of a sweep file locally (W&B offline) and collect one table.

    Returns (and writes as ``<out>/sweep_results.csv`` / ``.md``) one row per point and dataset (the dataset
    "mean" rows of its test_results.csv, plus the ("mean", "mean") row): run, the swept parameters, dataset,
    metrics in percent.
    """
    sweep = load_sweep(sweep_file)
    if sweep["method"] == "grid":
        points = grid_points(sweep)
    elif count:
        points = random_points(sweep, count)
    else:
        raise ValueError(f"'{sweep_file}' is a {sweep['method']} sweep; locally give --count N points to draw at random.")
    command = [str(c) for c in sweep["command"]]
    fixed = [c for c in command[command.index(POINT) + 1 :] if not c.startswith("${")]
    own, fixed = _point_parser().parse_known_args(fixed)
    out = Path(out)
    cache_dir = Path(own.feature_cache_dir or out / "feature_cache")
    previous = os.environ.get("WANDB_MODE")
    os.environ["WANDB_MODE"] = "offline"  # a local sweep never needs an account
    rows = []
    try:
        for number, point in enumerate(points):
            name = f"run{number:03d}"
            print(f"sweep {name} ({number + 1}/{len(points)}): {' '.join(agent_args(point))}", flush=True)
            test_dir = run_point([*fixed, *extra_args, *agent_args(point)], out / name, cache_dir, runner)
            table = pd.read_csv(test_dir / "test_results.csv")
            for record in table[table["class"] == "mean"].to_dict("records"):
                rows.append({"run": name, **point, **{k: v for k, v in record.items() if k != "class"}})
    finally:
        if previous is None:
            os.environ.pop("WANDB_MODE", None)
        else:
            os.environ["WANDB_MODE"] = previous
    results = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    results.to_csv(out / "sweep_results.csv", index=False)
    (out / "sweep_results.md").write_text(markdown_table(results))
    return results


def _point_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tipsomaly sweep point", add_help=False)
    p.add_argument("--feature_cache_dir", default=None)
    p.add_argument("--out", default=None)
    return p


def sweep_main(argv: list[str] | None = None) -> int:
    """`tipsomaly sweep run FILE [--out DIR] [--count N] [-- CLI args]` or `tipsomaly sweep point ARGS` (the agent's)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [POINT]:
        own, rest = _point_parser().parse_known_args(argv[1:])
        from tipsomaly.wandb_setup import new_run_id

        run_id = os.environ.get("WANDB_RUN_ID") or new_run_id()
        out = Path(own.out or "sweep_runs") / run_id
        test_dir = run_point(rest, out, Path(own.feature_cache_dir or ".cache/tipsomaly_features"))
        print(f"sweep point finished; results in {test_dir}")
        return 0
    p = argparse.ArgumentParser(prog="tipsomaly sweep", description="Run a W&B sweep file locally, offline, and collect its table.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="every point of a sweep file through the CLI")
    run.add_argument("sweep_file")
    run.add_argument("--out", default="sweep_runs", help="one folder per point and sweep_results.csv/.md")
    run.add_argument("--count", type=int, default=None, help="points to draw for random/bayes sweeps")
    sub.add_parser(POINT, help="one point: fit then test (the agent's command)")
    args, extra = p.parse_known_args(argv)
    extra = extra[1:] if extra[:1] == ["--"] else extra
    try:
        table = run_sweep(args.sweep_file, args.out, count=args.count, extra_args=extra)
    except (FileNotFoundError, ValueError) as error:
        print(f"tipsomaly sweep: error: {error}", file=sys.stderr)
        return 2
    print(markdown_table(table))
    print(f"sweep results written to {Path(args.out) / 'sweep_results.csv'}")
    return 0


main = sweep_main
