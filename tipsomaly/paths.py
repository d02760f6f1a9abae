"""Dataset roots and the checkpoint folder from environment variables, the one place a user sets them.

The configs write roots as `${TIPSOMALY_DATA}/VisA_20220922` and the TIPS folder as `${TIPSOMALY_CHECKPOINTS}`;
`export TIPSOMALY_DATA=/data TIPSOMALY_CHECKPOINTS=/models/tips` once, and every config finds its files.
Any other variable works the same way.
"""

from __future__ import annotations

import os
import re

_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
KNOWN = {
    "TIPSOMALY_DATA": "the folder that holds the datasets as their authors distribute them",
    "TIPSOMALY_CHECKPOINTS": "the folder of the official TIPS checkpoints and tokenizer.model",
}


class UnsetVariableError(ValueError):
    """A path names an environment variable that is not set."""


def expand_variables(value: str, what: str) -> str:
    """`value` with `$VAR` / `${VAR}` replaced from the environment; a one-line error naming `what` if one is unset."""

    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name not in os.environ:
            meaning = f" ({KNOWN[name]})" if name in KNOWN else ""
            raise UnsetVariableError(
                f"{what} '{value}' uses ${name}, which is not set; export {name}=/path{meaning}, "
                "or give the path itself."
            )
        return os.environ[name]

    return _VARIABLE.sub(replace, value)
