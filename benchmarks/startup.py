"""Time before anything runs: imports, `tipsomaly test --help`, and a `tipsomaly test` up to its first batch.

    python benchmarks/startup.py [--repeats 3]

Figures (each the best of a few fresh interpreters, so a loaded machine inflates them less):
- `import tipsomaly.cli` (the console script's own module: it imports nothing heavy) and a bare interpreter;
- the command's own import overhead: `import torch, lightning` against the same plus `tipsomaly.lightning_cli`
  (all that fit/validate/test/predict import before parsing), and against every module a real `tipsomaly test`
  holds at its first batch (what the run needs at all; the target is <= 0.5 s over torch + lightning);
- `tipsomaly test --help`, and process start -> first test batch on a tiny generated set with the tiny TIPS model,
  without a logger and with the default W&B logger (offline), so the share of each is visible;
- the packages that the CLI imports beyond torch + lightning, slowest first, each with the chain of imports from
  our own code that pulls it in (`python -X importtime`): where lazy imports would pay.
The last line is `SUMMARY startup key=value ...`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import yaml

from harness import ROOT, machine

BASE = "import torch, lightning"
CLI = "import tipsomaly.lightning_cli"
OURS = ("tipsomaly", "lightning_modules", "datamodules")
# What the proposed change to lightning_modules/tips/vision_tower.py does, here from the outside: `import wandb`
# fails (timm catches it) while timm loads, then works again.
HIDE_WANDB_FROM_TIMM = "import sys; sys.modules['wandb'] = None; import timm; del sys.modules['wandb']"


class Timing(NamedTuple):
    wall: float
    cpu: float

    def __sub__(self, other: "Timing") -> "Timing":
        return Timing(self.wall - other.wall, self.cpu - other.cpu)

    def __str__(self) -> str:
        return f"{self.wall:.2f} s ({self.cpu:.2f} s CPU)"
# Run as `python -c`: the console script plus a callback that stamps the first test batch and writes down every
# module loaded by then, then leaves at once (the rest of the run is not start-up).
FIRST_BATCH = """
import os, sys, time
from lightning.pytorch.callbacks import Callback
class FirstBatchClock(Callback):
    def on_test_batch_start(self, *args, **kwargs):
        with open(os.environ["STARTUP_PROBE"], "w") as out:
            out.write(repr((time.time(), sorted({m.split(".")[0] for m in sys.modules}))))
        os._exit(0)
from tipsomaly.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    env.setdefault("WANDB_MODE", "offline")  # never an account prompt nor a network wait in a benchmark
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def best_seconds(command: list[str], repeats: int, env: dict | None = None, cwd: Path = ROOT) -> Timing:
    """Best wall and CPU seconds of `repeats` runs of `command` (CPU time: less inflated by a loaded machine)."""
    best = Timing(float("inf"), float("inf"))
    for _ in range(repeats):
        cpu, start = _children_cpu(), time.perf_counter()
        subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=env or _env())
        best = Timing(min(best.wall, time.perf_counter() - start), min(best.cpu, _children_cpu() - cpu))
    return best


def interleaved(statements: dict[str, str], repeats: int) -> dict[str, Timing]:
    """Best wall and CPU seconds of `python -c` per statement, the statements taking turns in each round, so a
    change of load on a shared machine reaches all of them alike and their differences stay meaningful."""
    best = {key: Timing(float("inf"), float("inf")) for key in statements}
    for _ in range(repeats):
        for key, statement in statements.items():
            timing = best_seconds([sys.executable, "-c", statement], 1)
            best[key] = Timing(min(best[key].wall, timing.wall), min(best[key].cpu, timing.cpu))
    return best


def _import_tree(statement: str) -> list[tuple[int, str, float]]:
    """(depth, module, self seconds) in `python -X importtime` order (a module after everything it imported)."""
    run = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], cwd=ROOT, env=_env(),
                         capture_output=True, text=True, check=True)
    rows = []
    for line in run.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        own = int(parts[0].split(":")[1])
        rows.append(((len(name) - len(name.lstrip())) // 2, name.strip(), own / 1e6))
    return rows


def imports_beyond(base: str, statement: str, top: int = 10) -> list[tuple[float, str, str]]:
    """(self seconds, top-level package, chain from our code) of what `statement` imports that `base` does not."""
    before = {name for _, name, _ in _import_tree(base)}
    rows = _import_tree(f"{base}; {statement}")
    parents: list[int | None] = [None] * len(rows)
    pending: list[int] = []
    for index in range(len(rows) - 1, -1, -1):  # a module's importer is the next row with a smaller depth
        while pending and rows[pending[-1]][0] >= rows[index][0]:
            pending.pop()
        parents[index] = pending[-1] if pending else None
        pending.append(index)
    seconds: dict[str, float] = defaultdict(float)
    chains: dict[str, str] = {}
    for index, (_, name, own) in enumerate(rows):
        if name in before:
            continue
        package = name.split(".")[0]
        seconds[package] += own
        if package not in chains and package not in OURS:
            chain, parent = [name], parents[index]
            while parent is not None and not chain[-1].startswith(OURS):
                chain.append(rows[parent][1])
                parent = parents[parent]
            shown = [c for i, c in enumerate(chain) if i == 0 or c.split(".")[0] != chain[i - 1].split(".")[0]]
            chains[package] = " <- ".join(shown)  # where the chain crosses from one package to another
    ranked = sorted(((s, p, chains.get(p, "(our code)")) for p, s in seconds.items()), reverse=True)
    return ranked[:top]


def _tiny_test_config(folder: Path) -> Path:
    from datamodules import make_synthetic_dataset

    make_synthetic_dataset(folder / "target", n_normal=2, n_anomalous=2, image_size=32, seed=0)
    tips = ROOT / "tests" / "data" / "tips"
    config = {
        "model": {"backbone": {
            "vision_checkpoint": str(tips / "tips_tiny_mlp_vision.npz"), "text_checkpoint": str(tips / "tips_tiny_mlp_text.npz"),
            "tokenizer": str(tips / "tokenizer.model"), "vision_num_heads": 4, "text_num_heads": 4}},
        "data": {"test_sets": [{"name": "target", "format": "mvtec", "root": str(folder / "target")}],
                 "image_size": 28, "batch_size": 4, "num_workers": 0},
        "trainer": {"accelerator": "cpu", "devices": 1, "enable_progress_bar": False, "enable_model_summary": False,
                    "callbacks": [{"class_path": "__main__.FirstBatchClock"}]},
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def first_batch(config: Path, extra: list[str], repeats: int) -> tuple[Timing, list[str]]:
    """(best wall and CPU seconds from process start to the first test batch, top-level modules loaded by then)."""
    best, modules = Timing(float("inf"), float("inf")), []
    for attempt in range(repeats):
        probe = config.parent / f"probe{attempt}.txt"
        env = dict(_env(), STARTUP_PROBE=str(probe))
        results = config.parent / f"results{attempt}_{len(extra)}"
        cpu, start = _children_cpu(), time.time()
        subprocess.run([sys.executable, "-c", FIRST_BATCH, "test", "--config", str(config), *extra,
                        "--results_dir", str(results), "--overwrite", "true"],
                       cwd=config.parent, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        stamped, modules = eval(probe.read_text())  # noqa: S307 - our own repr of (float, [str])
        best = Timing(min(best.wall, stamped - start), min(best.cpu, _children_cpu() - cpu))
    return best, modules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(machine())
    summary: dict[str, float] = {}

    def note(key: str, timing: Timing) -> Timing:
        summary[f"{key}_s"], summary[f"{key}_cpu_s"] = timing.wall, timing.cpu
        return timing

    with tempfile.TemporaryDirectory() as tmp:
        config = _tiny_test_config(Path(tmp))
        help_ = best_seconds([sys.executable, "-m", "tipsomaly.cli", "test", "--help"], args.repeats)
        no_logger, modules = first_batch(config, ["--trainer.logger", "false"], args.repeats)
        with_wandb, _ = first_batch(config, [], args.repeats)
    needed = [m for m in modules if not m.startswith("_") and m not in sys.builtin_module_names and m != "__main__"]
    statements = {
        "bare": "pass", "import_tipsomaly_cli": "import tipsomaly.cli", "torch_lightning": BASE, "cli": f"{BASE}; {CLI}",
        "cli_hidden": f"{BASE}; {HIDE_WANDB_FROM_TIMM}; {CLI}",
        "run": f"{BASE}\nfor m in {json.dumps(needed)}:\n    try:\n        __import__(m)\n    except Exception:\n        pass",
    }
    best = interleaved(statements, args.repeats)  # one round of each after the other: the same load for all
    base = note("torch_lightning", best["torch_lightning"])
    print(f"\nbare interpreter: {note('bare', best['bare'])}")
    print(f"import tipsomaly.cli: {note('import_tipsomaly_cli', best['import_tipsomaly_cli'])} (the console script's module)")
    print(f"{BASE}: {base}; + {CLI}: {best['cli']}\n  -> the CLI's own imports: "
          f"{note('cli_overhead', best['cli'] - base)} (target <= 0.5 s)")
    print(f"  the same with wandb hidden while timm loads (timm.utils.summary imports it for timm's own scripts): "
          f"{note('cli_overhead_timm_without_wandb', best['cli_hidden'] - base)}")
    print(f"  every module a test run holds at its first batch: {note('run_import_overhead', best['run'] - base)} "
          "over torch + lightning")
    print(f"tipsomaly test --help: {note('test_help', help_)}")
    print(f"tipsomaly test, process start -> first batch: {note('first_batch', no_logger)} without a logger, "
          f"{note('first_batch_wandb', with_wandb)} with the default W&B logger (offline)")

    print(f"\nwhat `{CLI}` adds to `{BASE}` (self seconds per package, and who pulls it in):")
    for seconds, package, chain in imports_beyond(BASE, CLI):
        print(f"  {seconds:6.2f}  {package:<20} {chain}")
    print("SUMMARY startup " + " ".join(f"{key}={value:.3g}" for key, value in summary.items()))


if __name__ == "__main__":
    main()
