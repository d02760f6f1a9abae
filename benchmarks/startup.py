"""Time before anything runs: importing the packages, `tipsomaly --help` and `tipsomaly test --help`.

    python benchmarks/startup.py [--repeats 2]

Each figure is the best of a few fresh interpreters (`python -c "import X"`), next to a bare
interpreter's start as the baseline, so the difference is the import itself. The slowest
imports of `lightning_modules` are listed from `python -X importtime` (self + children time of
the top-level packages it pulls in). The last line is `SUMMARY startup key=value ...`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from harness import ROOT, machine

STATEMENTS = [
    "import torch",
    "import lightning",
    "import datamodules",
    "import lightning_modules.metrics",
    "from lightning_modules import Tipsomaly",
    "import tipsomaly.cli",
]


def best_seconds(command: list[str], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def heaviest_imports(statement: str, top: int = 8) -> list[tuple[float, str]]:
    """(cumulative seconds, package) of the top-level packages `statement` imports, slowest first."""
    run = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    totals = {}
    for line in run.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        if len(name) - len(name.lstrip()) == 1:  # a direct import of the top level (one space of indentation)
            totals[name.strip()] = int(parts[1]) / 1e6
    return sorted(((s, n) for n, s in totals.items()), reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(machine())
    bare = best_seconds([sys.executable, "-c", "pass"], args.repeats)
    print(f"\nbare interpreter: {bare:.2f} s (baseline)")
    summary = {"bare_s": bare}
    for statement in STATEMENTS:
        try:
            seconds = best_seconds([sys.executable, "-c", statement], args.repeats)
        except subprocess.CalledProcessError:
            print(f"{statement}: fails (not there yet?)")
            continue
        print(f"{statement}: {seconds:.2f} s ({seconds - bare:.2f} s over the baseline)")
        summary[statement.split()[-1].replace(".", "_") + "_s"] = seconds
    command = Path(sys.executable).parent / "tipsomaly"
    if command.exists():
        for words in (["--help"], ["test", "--help"]):  # the overview, and a command's full argument list
            seconds = best_seconds([str(command), *words], args.repeats)
            print(f"tipsomaly {' '.join(words)}: {seconds:.2f} s" + (" (target < 2 s)" if len(words) == 1 else ""))
            summary["tipsomaly_" + "_".join(w.strip("-") for w in words) + "_s"] = seconds
    else:
        print(f"tipsomaly --help: {command} does not exist yet (pip install -e . creates it)")
    print(f"\nslowest top-level imports of `{STATEMENTS[4]}` (seconds, self + children):")
    for seconds, name in heaviest_imports(STATEMENTS[4]):
        print(f"  {seconds:6.2f}  {name}")
    fields = " ".join(f"{key}={value:.3g}" for key, value in summary.items())
    print(f"SUMMARY startup {fields}")


if __name__ == "__main__":
    main()
