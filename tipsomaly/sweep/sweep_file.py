"""A W&B sweep file read and checked before any work, and expanded into the points a local sweep runs.

A sweep file's ``command`` is ``tipsomaly sweep point <fixed args> ${args}``; the W&B agent fills ``${args}``
with ``--key=value`` pairs, which jsonargparse parses (``--model.n_prompt=16``). A relative ``--config`` in the
command is relative to the sweep file's own folder (the shipped files say ``--config ../mvtec_to_visa.yaml``),
so a sweep runs from any working folder; other paths (the feature cache) are relative to the working folder.
"""

from __future__ import annotations

import difflib
import itertools
import json
import math
import random
from pathlib import Path

import yaml

POINT = "point"
# The keys of a W&B sweep configuration (docs.wandb.ai, "Define a sweep configuration"); anything else is a typo.
SWEEP_KEYS = ("program", "method", "metric", "parameters", "command", "early_terminate", "name", "description",
              "project", "entity", "run_cap", "controller", "job", "image_uri")
PARAMETER_KEYS = ("values", "value", "distribution", "min", "max", "mu", "sigma", "q", "probabilities", "parameters")
DISTRIBUTIONS = ("uniform", "int_uniform", "log_uniform_values")  # what the local runner can draw


class SweepFileError(ValueError):
    """A sweep file that cannot be run as written; the message names the file, the key and the fix."""


def _unknown(path: Path, where: str, keys: list[str], known: tuple[str, ...]) -> None:
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"expected one of {', '.join(known)}"
            raise SweepFileError(f"'{path}': unknown key '{key}' {where}; {hint}")


def load_sweep(path: str | Path) -> dict:
    """Read and check a W&B sweep file: a mapping with a method, parameters (each with values, a value or a
    distribution) and a command that runs `tipsomaly sweep point`. Every problem is one SweepFileError line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep file '{path}' does not exist; see configs/sweeps/ for examples.")
    try:
        sweep = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise SweepFileError(f"'{path}' is not valid YAML ({' '.join(str(error).split())}).") from None
    if not isinstance(sweep, dict):
        raise SweepFileError(f"'{path}' holds a YAML {type(sweep).__name__}, expected a mapping with method, parameters "
                             "and command (see configs/sweeps/grid.yaml).")
    _unknown(path, "at the top level", list(sweep), SWEEP_KEYS)
    if sweep.get("method") not in ("grid", "random", "bayes"):
        raise SweepFileError(f"'{path}': method is {sweep.get('method')!r}; expected grid, random or bayes.")
    if not isinstance(sweep.get("parameters"), dict) or not sweep["parameters"]:
        raise SweepFileError(f"'{path}': no parameters; give e.g. parameters: {{model.n_prompt: {{values: [4, 8]}}}}.")
    for key, spec in flat_parameters(sweep["parameters"]).items():
        _check_parameter(path, key, spec)
    command = [str(c) for c in sweep.get("command") or []]
    if POINT not in command or "${args}" not in command or "${args_no_boolean_flags}" in command:
        raise SweepFileError(f"'{path}': command must run `tipsomaly sweep point ... ${{args}}` (never ${{args_no_boolean_flags}}), got {command}.")
    return sweep


def _check_parameter(path: Path, key: str, spec: object) -> None:
    if not isinstance(spec, dict):
        raise SweepFileError(f"'{path}': parameter '{key}' is {spec!r}; write it as {{values: [...]}} or {{value: ...}}.")
    _unknown(path, f"in parameter '{key}'", list(spec), PARAMETER_KEYS)
    if "values" in spec and (not isinstance(spec["values"], list) or not spec["values"]):
        raise SweepFileError(f"'{path}': parameter '{key}' has values: {spec['values']!r}; give a list of at least one value.")
    if not ({"values", "value", "min"} & set(spec)):
        raise SweepFileError(f"'{path}': parameter '{key}' has none of values, value or min/max; give e.g. values: [4, 8].")
    if "min" in spec and ("max" not in spec or not spec["min"] <= spec["max"]):
        raise SweepFileError(f"'{path}': parameter '{key}' needs min <= max, got min {spec.get('min')!r}, max {spec.get('max')!r}.")


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
            raise SweepFileError(f"parameter {key!r} has {spec}; a grid needs `values: [...]` or `value: ...` (distributions are for random/bayes).")
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
                raise SweepFileError(f"parameter {key!r}: distribution {spec.get('distribution')!r} is not supported locally "
                                     f"(supported: {', '.join(DISTRIBUTIONS)}).")
        points.append(point)
    return points


def sweep_points(sweep: dict, count: int | None, path: str | Path = "the sweep file") -> tuple[list[dict], str]:
    """The points a local run takes, and a note saying how they were chosen.

    grid: every combination, the first ``count`` of them when given (file order); random/bayes: ``count``
    points drawn at random (required). ``count`` below 1 is refused."""
    if count is not None and count < 1:
        raise SweepFileError(f"--count is {count}; give a positive number of points (or leave it out for a whole grid).")
    if sweep["method"] == "grid":
        points = grid_points(sweep)
        if count is not None and count < len(points):
            return points[:count], f"the first {count} of the grid's {len(points)} points (--count {count})"
        return points, f"a grid of {len(points)} points"
    if not count:
        raise SweepFileError(f"'{path}' is a {sweep['method']} sweep; locally give --count N points to draw at random.")
    return random_points(sweep, count), f"{count} points drawn at random from a {sweep['method']} sweep"


def command_arguments(sweep: dict) -> list[str]:
    """The sweep command's arguments after ``point``, without the ``${...}`` macros."""
    command = [str(c) for c in sweep["command"]]
    return [c for c in command[command.index(POINT) + 1 :] if not c.startswith("${")]


def resolve_configs(args: list[str], folder: Path, what: str) -> list[str]:
    """``--config X`` / ``--config=X`` with a relative X made absolute against ``folder``; a missing file is one line
    naming ``what`` (the sweep file) and both paths."""
    resolved, expect = [], False
    for arg in args:
        if expect or arg.startswith("--config="):
            value = arg if expect else arg.split("=", 1)[1]
            path = Path(value).expanduser()
            path = path if path.is_absolute() else (folder / path).resolve()
            if not path.is_file():
                raise SweepFileError(f"{what}: --config '{value}' is '{path}' (relative to the sweep file's folder), "
                                     "which does not exist; fix the path in the sweep file's command.")
            arg = str(path) if expect else f"--config={path}"
        expect = arg == "--config"
        resolved.append(arg)
    return resolved


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
