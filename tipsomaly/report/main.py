"""`tipsomaly report RUN_DIRS... --out report/`: the comparison report, optionally published to W&B."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tipsomaly.report.build import build_report, collect
from tipsomaly.report.runs import METRICS


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tipsomaly report", description="Compare results folders: tables, best runs, the paper's Table 1, plots, overlays.")
    p.add_argument("run_dirs", nargs="*", help="results folders (each with test_results.csv)")
    p.add_argument("--wandb_runs", action="append", default=[], metavar="ENTITY/PROJECT[/sweeps/ID]",
                   help="also compare the W&B runs of a project or sweep (online; repeatable)")
    p.add_argument("--out", default="report", help="output folder for report.html, report.md, plots/ and overlays/")
    p.add_argument("--metric", default="pixel_aupro", choices=METRICS, help="metric of the per-class and sweep plots")
    p.add_argument("--overlays_per_class", type=int, default=1, help="overlays shown per run and class")
    p.add_argument("--wandb", action="store_true", help="also publish it as a W&B Report (needs `wandb login`)")
    p.add_argument("--project", default="tipsomaly", help="W&B project of the runs (with --wandb)")
    p.add_argument("--entity", default="", help="W&B entity of the runs (with --wandb)")
    return p


def report_main(argv: list[str] | None = None) -> int:
    """Exit status 0 when written, 2 on bad input (a one-line message on stderr)."""
    args = parser().parse_args(argv)
    try:
        run_dirs = list(args.run_dirs)
        for source in args.wandb_runs:
            from tipsomaly.report.wandb_runs import wandb_results_folders

            run_dirs += wandb_results_folders(source, Path(args.out) / "wandb_runs")
        html, md = build_report(run_dirs, args.out, args.metric, args.overlays_per_class)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"tipsomaly report: error: {error}", file=sys.stderr)
        return 2
    print(f"report written to {html} and {md}")
    if args.wandb:
        from tipsomaly.report.publish import publish

        try:
            print(f"W&B report: {publish(collect(run_dirs, args.metric, args.overlays_per_class), args.project, args.entity, args.metric)}")
        except (RuntimeError, ValueError) as error:
            print(f"tipsomaly report: error: {error}", file=sys.stderr)
            return 2
    return 0


main = report_main

if __name__ == "__main__":
    sys.exit(report_main())
