"""A sweep folder (`tipsomaly sweep run --out`) as the results folders of its finished points.

Its layout: ``sweep.yaml`` (the sweep file, copied), ``sweep_results.csv``, and per point ``runNNN/point.json``
(arguments and swept values), ``runNNN/fit/``, ``runNNN/test/`` (the results the report reads).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass
class Entry:
    """One results folder to read: its label, the label of what holds it, and what its sweep says about it."""

    folder: Path
    label: str
    parent: str
    point: dict = field(default_factory=dict)
    sweep_parameters: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_sweep_folder(path: Path) -> bool:
    return not (path / "test_results.csv").is_file() and (
        (path / "sweep_results.csv").is_file() or any(path.glob("run*/point.json")))


def _point(run_dir: Path) -> dict:
    try:
        point = json.loads((run_dir / "point.json").read_text()).get("point") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    return point if isinstance(point, dict) else {}


def sweep_parameters(path: Path, points: list[dict]) -> list[str]:
    """The parameter keys of the sweep file copied into the folder, else those its points record."""
    from tipsomaly.sweep.sweep_file import flat_parameters

    try:
        sweep = yaml.safe_load((path / "sweep.yaml").read_text())
        return list(flat_parameters(sweep["parameters"]))
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return list(dict.fromkeys(k for p in points for k in p))


def expand(path: Path) -> list[Entry]:
    """[the folder itself], or a sweep folder's finished points (its unfinished ones noted, never silently dropped)."""
    if not is_sweep_folder(path):
        return [Entry(path, path.name, path.parent.name)]
    finished, unfinished = [], []
    for run_dir in sorted(p for p in path.glob("run*") if p.is_dir()):
        (finished if (run_dir / "test" / "test_results.csv").is_file() else unfinished).append(run_dir)
    if not finished:
        raise FileNotFoundError(f"sweep folder '{path}' holds no finished point (no run*/test/test_results.csv); "
                                "run `tipsomaly sweep run` into it first.")
    points = [_point(run_dir) for run_dir in finished]
    keys = sweep_parameters(path, points)
    entries = [Entry(run_dir / "test", run_dir.name, path.name, point, keys) for run_dir, point in zip(finished, points)]
    if unfinished:
        entries[0].notes.append(f"sweep '{path}': {', '.join(p.name for p in unfinished)} have no test results "
                                "(unfinished points): left out of the report.")
    return entries
