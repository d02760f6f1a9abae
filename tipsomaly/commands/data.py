"""`tipsomaly data summary`: the per-class table of what a dataset folder holds, before a long run.

    tipsomaly data summary --format visa --root /data/VisA_20220922 [--check_files] [--classes candle pcb1]
"""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tipsomaly data", description="Look at a dataset before using it.")
    commands = parser.add_subparsers(dest="command", required=True)
    summary = commands.add_parser("summary", help="per-class counts of normal / anomalous images and masks")
    summary.add_argument("--format", required=True, help="the layout, e.g. mvtec, visa, btad, folder, images")
    summary.add_argument("--root", required=True, help="the dataset folder as its authors distribute it")
    summary.add_argument("--classes", nargs="+", default=None, help="only these classes (reader class names)")
    summary.add_argument("--check_files", action="store_true", help="also decode every image and mask")
    summary.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE",
        help="a reader option, e.g. --option normal_dir=ok (repeatable)",
    )
    return parser


def _options(pairs: list[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--option '{pair}' is not KEY=VALUE; write e.g. --option normal_dir=ok.")
        options[key] = value
    return options


def main(argv: list[str]) -> int:
    """Print the summary table; 2 and a one-line error for a dataset that cannot be read."""
    args = _parser().parse_args(argv)
    from datamodules import summarize
    from datamodules.errors import DatasetLayoutError

    try:
        table = summarize(
            args.format, args.root, check_files=args.check_files, classes=args.classes, **_options(args.option)
        )
    except (DatasetLayoutError, ValueError) as error:
        print(f"tipsomaly data summary: error: {error}", file=sys.stderr)
        return 2
    print(f"{args.format} dataset at {args.root}" + (" (every file decoded)" if args.check_files else ""))
    print(table.to_string())
    return 0
