"""Names that become parts of file paths: a set's name and its class names (maps/<dataset>/<class>.npz,
overlays/<dataset>/<class>/...). Each must be one plain folder name, or a run would write outside its results
folder (`../../../outside`) or into another set's. Checked where a name enters (the spec, the readers), before any
work, so no writer downstream has to escape anything.
"""

from __future__ import annotations

from typing import Any

from datamodules.errors import DatasetLayoutError

# What cannot appear in one folder name on the systems we run on (POSIX and Windows separators, NUL).
FORBIDDEN_CHARACTERS = ("/", "\\", "\x00")


def path_part_problem(value: Any) -> str | None:
    """Why `value` cannot be one folder name, or None when it can."""
    if not isinstance(value, str) or not value.strip():
        return "it is not a non-empty string"
    for character in FORBIDDEN_CHARACTERS:
        if character in value:
            return f"it holds {character!r}, a path separator or NUL"
    if value in (".", ".."):
        return "it names the current or parent folder"
    if len(value) >= 2 and value[1] == ":" and value[0].isalpha():
        return "it starts like a Windows drive ('C:')"
    return None


def check_path_part(value: Any, what: str, fix: str) -> str:
    """`value` unchanged when it is one plain folder name; else DatasetLayoutError naming it, why, and `fix`.

    what: e.g. "dataset name" or "class name 'x' read from '/data/...'", for the message.
    """
    problem = path_part_problem(value)
    if problem is not None:
        raise DatasetLayoutError(
            f"{what} {value!r} cannot be used: it becomes a folder of the results (maps/<dataset>/<class>, "
            f"overlays/<dataset>/<class>/) and {problem}, so files would land outside or across results folders. "
            f"Fix: {fix}"
        )
    return value
