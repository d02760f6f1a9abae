"""Config files that start from other config files, resolved before LightningCLI parses them.

A config names its parents with `config: paper.yaml` or `config: [paper.yaml, trainer/cpu.yaml]`, each a path
relative to the config itself (or, if no such file is there, a packaged config: `tipsomaly configs` lists them).
The parents are merged in order, then the config's own keys on top, key by key:

- a later value wins; nested mappings merge recursively (a child's `data: {test_sets: ...}` keeps the parent's
  `data.shuffle`); lists and scalars are replaced whole (a child's `test_sets` is its list, not an extension);
- a mapping whose `class_path` differs from the parent's replaces it whole (another class: the old init_args
  would not fit it);
- parents resolve their own parents the same way; a cycle is an error naming the files.

jsonargparse resolves a nested `config:` itself, but replaces every section that the child names (the child's
`data:` dropped the paper's `shuffle: false`, its `model:` the backbone) and ignores the list form; several
`--config` flags on the command line, on the other hand, compose key by key. So `expand_config_arguments` turns each
`--config FILE` into `--config <the merged YAML>` and leaves the composition across flags to jsonargparse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Union

import yaml

from tipsomaly.package_data import configs_dir

CONFIG_FLAGS = ("--config", "-c")
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
# First line of an expanded --config value: says where it came from (read back by `config_source`).
HEADER = "# tipsomaly: {path} with its parents merged in\n"
PathLike = Union[str, Path]


class ConfigFileError(ValueError):
    """A config file that cannot be used: missing, not YAML, not a mapping, or in an inheritance cycle."""


def merge_configs(base: dict, override: dict) -> dict:
    """`base` with `override` on top, key by key (see the module docstring); neither argument is changed."""
    if "class_path" in base and "class_path" in override and base["class_path"] != override["class_path"]:
        return dict(override)
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_configs(merged[key], value)
        else:
            merged[key] = value
    return merged


def _lookup(name: PathLike, relative_to: PathLike | None) -> tuple[Path | None, Path]:
    """(the file `name` means or None, the local path looked at first)."""
    given = Path(name).expanduser()
    local = given if given.is_absolute() else Path(relative_to or ".") / given
    if local.is_file():
        return local, local
    if not given.is_absolute():
        parts = given.parts[1:] if given.parts[:1] == ("configs",) and len(given.parts) > 1 else given.parts
        packaged = configs_dir().joinpath(*parts)
        if packaged.is_file():
            return packaged, local
    return None, local


def find_config(name: PathLike, relative_to: PathLike | None = None) -> Path:
    """The file a config name means: `relative_to / name` (default: the working folder) if it exists, else the
    packaged config of that name (a leading `configs/` is allowed: `configs/trainer/cpu.yaml`)."""
    found, local = _lookup(name, relative_to)
    if found is None:
        raise FileNotFoundError(
            f"config file '{name}' does not exist ('{local.resolve()}') and is not a packaged config; "
            "`tipsomaly configs` lists those"
        )
    return found


def _read(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigFileError(f"config file '{path}' cannot be read: {error.strerror}") from None
    try:
        content = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigFileError(f"config file '{path}' is not valid YAML{at}: {problem}; fix that line") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigFileError(
            f"config file '{path}' holds a {type(content).__name__}, expected a mapping of sections "
            "(model:, data:, trainer:, config: ...)"
        )
    return content


def _parents(path: Path, content: dict) -> list[str]:
    names = content.get("config")
    if names is None:
        return []
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigFileError(
            f"config file '{path}' has `config: {content['config']!r}`; expected a file name or a list of them, "
            "e.g. `config: paper.yaml` or `config: [paper.yaml, trainer/cpu.yaml]`"
        )
    return names


def resolve_config(path: PathLike, _chain: tuple[Path, ...] = ()) -> dict:
    """The settings of config file `path` with every parent it names merged in; no `config` key is left."""
    path = Path(path)
    if path.resolve() in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, path.resolve()))
        raise ConfigFileError(f"config files start from each other in a cycle: {cycle}; remove one `config:` entry")
    content = _read(path)
    merged: dict = {}
    for name in _parents(path, content):
        parent, local = _lookup(name, path.parent)
        if parent is None:
            raise ConfigFileError(
                f"config file '{path}' starts from '{name}', which is neither beside it ('{local}') nor a packaged "
                "config; fix the `config:` entry (`tipsomaly configs` lists the packaged ones)"
            )
        merged = merge_configs(merged, resolve_config(parent, (*_chain, path.resolve())))
    own = {key: value for key, value in content.items() if key != "config"}
    return merge_configs(merged, own)


def _names_a_file(value: str) -> bool:
    """A --config value that means a file (else it is inline YAML, which jsonargparse parses itself)."""
    if "\n" in value or value.lstrip().startswith("{"):
        return False
    if value.endswith(CONFIG_SUFFIXES):
        return True
    try:
        return Path(value).is_file()
    except OSError:  # e.g. a long inline value: "File name too long"
        return False


def expanded(path: PathLike) -> str:
    """The --config value for file `path`: its merged settings as YAML, under a header naming the file."""
    return HEADER.format(path=path) + yaml.safe_dump(resolve_config(path), sort_keys=False, allow_unicode=True)


def _config_values(argv: list[str]) -> Iterator[tuple[int, str, str]]:
    """(index of the value, the flag spelling, the value) for every --config on the command line."""
    for i, arg in enumerate(argv):
        if arg in CONFIG_FLAGS and i + 1 < len(argv):
            yield i + 1, "", argv[i + 1]
        elif arg.startswith("--config="):
            yield i, "--config=", arg.split("=", 1)[1]


def expand_config_arguments(argv: list[str]) -> list[str]:
    """`argv` with each `--config FILE` replaced by the file's merged settings (see the module docstring).
    Missing files raise FileNotFoundError, unusable ones ConfigFileError; both name the file."""
    argv = list(argv)
    for index, prefix, value in list(_config_values(argv)):
        if _names_a_file(value):
            argv[index] = prefix + expanded(find_config(value))
    return argv


def config_source(value: str) -> str:
    """The file an expanded --config value came from (for messages), or the value itself."""
    first = value.split("\n", 1)[0]
    head, _, tail = HEADER.partition("{path}")
    if first.startswith(head) and first.endswith(tail.rstrip("\n")):
        return first[len(head): len(first) - len(tail.rstrip("\n"))]
    return value


def given_configs(argv: list[str]) -> list[tuple[str, dict]]:
    """(where it came from, settings) of every --config on an expanded command line, in order."""
    configs = []
    for _, _, value in _config_values(argv):
        if _names_a_file(value):
            content = resolve_config(find_config(value))
        else:
            try:
                content = yaml.safe_load(value)
            except yaml.YAMLError:  # inline YAML that jsonargparse will refuse with its own message
                continue
        if isinstance(content, dict):
            configs.append((config_source(value), content))
    return configs


__all__ = [
    "ConfigFileError", "config_source", "expand_config_arguments", "expanded", "find_config", "given_configs",
    "merge_configs", "resolve_config",
]
