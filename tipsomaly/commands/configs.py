"""`tipsomaly configs`: the packaged configs (the paper's protocols, trainer presets, sweep files).

    tipsomaly configs                       # one line each: the name to pass to --config, and what it is
    tipsomaly configs paper.yaml            # the file itself, to read or copy and edit
    tipsomaly configs mvtec_to_visa.yaml --resolved   # with the configs it starts from merged in: what runs

A name given to --config that is not a file in the working folder is looked up here, so
`tipsomaly fit --config mvtec_to_all.yaml --config trainer/gpu.yaml` works from any folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from tipsomaly.config_files import find_config, resolve_config
from tipsomaly.package_data import configs_dir


def _summary(path: Path) -> str:
    """The file's first comment line: every shipped config opens with one saying what it is for."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
        if line.strip():
            break
    return ""


def packaged_configs() -> list[tuple[str, str]]:
    """(name as --config takes it, one-line summary) of every packaged config, sorted by name."""
    root = configs_dir()
    files = sorted(root.rglob("*.yaml"), key=lambda p: (len(p.relative_to(root).parts), str(p)))
    return [(p.relative_to(root).as_posix(), _summary(p)) for p in files]


def configs_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tipsomaly configs", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", help="a packaged config to print (e.g. paper.yaml, trainer/cpu.yaml)")
    parser.add_argument("--resolved", action="store_true",
                        help="print it with the configs it starts from (`config:`) merged in")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.name is None:
        entries = packaged_configs()
        width = max(len(name) for name, _ in entries)
        print(f"Packaged configs ({configs_dir()}); pass a name to --config, e.g. --config paper.yaml:")
        for name, summary in entries:
            print(f"  {name:<{width}}  {summary}")
        return 0
    try:
        path = find_config(args.name, relative_to=configs_dir())
    except FileNotFoundError:
        print(f"tipsomaly configs: error: no packaged config '{args.name}'; `tipsomaly configs` lists them",
              file=sys.stderr)
        return 2
    if args.resolved:
        print(f"# {args.name} with the configs it starts from merged in")
        print(yaml.safe_dump(resolve_config(path), sort_keys=False, allow_unicode=True), end="")
    else:
        print(path.read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(configs_main())
