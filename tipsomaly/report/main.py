"""`tipsomaly report RUN_DIRS... --out report/`: the comparison report, optionally published to W&B."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tipsomaly.report.build import build_report, check_out_folder, collect
from tipsomaly.report.runs import METRICS


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tipsomaly report", description="Compare results folders: provenance, tables, best runs, "
                                "the paper's Table 1, plots, overlays. Runs that differ only by seed are shown as mean ± std.")
    p.add_argument("run_dirs", nargs="*", help="results folders (each with test_results.csv), or the --out folder of a "
                   "`tipsomaly sweep run` (its points, with the sweep's parameters as the swept settings)")
    p.add_argument("--wandb_runs", action="append", default=[], metavar="ENTITY/PROJECT[/sweeps/ID]",
                   help="also compare the W&B runs of a project or sweep (online; repeatable)")
    p.add_argument("--out", default="report", help="output folder for report.html, report.md, plots/ and overlays/")
    p.add_argument("--metric", default="pixel_aupro", choices=METRICS, help="metric of the per-class and sweep plots")
    p.add_argument("--overlays_per_class", type=int, default=1, help="overlays shown per run and class")
    p.add_argument("--latex", action="store_true", help="also write report.tex: booktabs tables in the paper's Table 1 columns")
    p.add_argument("--wandb", action="store_true", help="also publish it as a W&B Report (needs `wandb login`)")
    p.add_argument("--project", default="tipsomaly", help="W&B project of the runs (with --wandb)")
    p.add_argument("--entity", default="", help="W&B entity of the runs (with --wandb)")
    return p


def report_main(argv: list[str] | None = None) -> int:
    """Exit status 0 when written, 2 on bad input (a one-line message on stderr); warnings go to stderr too."""
    args = parser().parse_args(argv)
    try:
        check_out_folder(args.out)
        run_dirs = list(args.run_dirs)
        for source in args.wandb_runs:
            from tipsomaly.report.wandb_runs import wandb_results_folders

            run_dirs += wandb_results_folders(source, Path(args.out) / "wandb_runs")
        written = build_report(run_dirs, args.out, args.metric, args.overlays_per_class, latex=args.latex)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"tipsomaly report: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    except OSError as error:  # a folder that cannot be written: say which and why
        print(f"tipsomaly report: error: cannot write the report into '{args.out}' ({error.strerror or error}); "
              "choose another --out.", file=sys.stderr)
        return 2
    report = collect(run_dirs, args.metric, args.overlays_per_class) if args.wandb else None
    for warning in (report.warnings if report else _warnings(run_dirs)):
        print(f"tipsomaly report: warning: {warning}", file=sys.stderr)
    print("report written to " + " and ".join(str(p) for p in written))
    if args.wandb:
        from tipsomaly.report.publish import publish

        try:
            print(f"W&B report: {publish(report, args.project, args.entity, args.metric)}")
        except (RuntimeError, ValueError) as error:
            print(f"tipsomaly report: error: {error}", file=sys.stderr)
            return 2
    return 0


def _warnings(run_dirs: list) -> list[str]:
    from tipsomaly.report.runs import load_runs

    return [w for run in load_runs(run_dirs) for w in run.warnings]


main = report_main

if __name__ == "__main__":
    sys.exit(report_main())
