"""A stand-in for `tipsomaly.cli.main` in sweep tests: records commands, writes what fit and test would write."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import yaml

from tests.report.results_folders import make_results_folder


class FakeMain:
    """main(args=[...]) -> status. fit writes prompts (epochs 1, 2, 10), test a results folder whose image AUROC is
    50 + n_prompt. ``fail``: {call number: status} (the fake prints a one-line error first); ``kill``:
    {call number: signal} sent to this process during that call (after the fit folder exists)."""

    def __init__(self, fail: dict[int, int] | None = None, kill: dict[int, int] | None = None, on_call=None):
        self.calls, self.fail, self.kill, self.on_call = [], fail or {}, kill or {}, on_call

    def __call__(self, args):
        self.calls.append(list(args))
        number = len(self.calls)
        if self.on_call:
            self.on_call(number, args)
        out = Path(next(a for a in args if a.startswith("--results_dir=")).split("=", 1)[1])
        if args[0] == "fit":
            (out / "prompts").mkdir(parents=True, exist_ok=True)
            for epoch in (1, 2, 10):
                (out / "prompts" / f"learnable_prompts_epoch{epoch}.pt").write_bytes(b"")
        if number in self.kill:
            os.kill(os.getpid(), self.kill[number])
        if number in self.fail:
            print(f"tipsomaly {args[0]}: error: fake failure of call {number}", file=sys.stderr)
            return self.fail[number]
        if args[0] == "test":
            n = int(next(a for a in args if a.startswith("--model.n_prompt=")).split("=")[1])
            make_results_folder(out, {"visa": {"candle": 0.5 + n / 100}}, overlays=False)
        return 0

    def commands(self) -> list[tuple[str, str]]:
        """(subcommand, point folder name) per call."""
        return [(a[0], Path(next(x for x in a if x.startswith("--results_dir=")).split("=", 1)[1]).parent.name) for a in self.calls]


def sweep_file(folder: Path, parameters: dict, method: str = "grid", **extra) -> Path:
    """<folder>/sweeps/sweep.yaml with `--config ../c.yaml` (relative to itself) and <folder>/c.yaml."""
    path = folder / "sweeps" / "sweep.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    (folder / "c.yaml").write_text("{}\n")
    path.write_text(yaml.safe_dump({"method": method, "parameters": parameters, **extra,
                                    "command": ["${env}", "tipsomaly", "sweep", "point", "--config", "../c.yaml", "${args}"]},
                                   sort_keys=False))
    return path


__all__ = ["FakeMain", "signal", "sweep_file"]
