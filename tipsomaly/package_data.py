"""Where the files that ship beside the code live: the configs and the demo's tiny TIPS model.

A wheel holds them inside the package (`tipsomaly/configs/`, `tipsomaly/demo_model/`, copied there by setup.py's
build step); a source checkout keeps them where the design names them (`configs/`, `tests/data/tips/`). Both
callers below answer the same question either way, so nothing else needs to know how tipsomaly was installed.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent
# installed name -> its folder in a source checkout (setup.py copies the second into the wheel as the first)
SHIPPED = {"configs": "configs", "demo_model": "tests/data/tips"}
# the tiny model's files that the demo uses (the other fixtures in tests/data/tips stay out of the wheel)
DEMO_MODEL_FILES = ("tips_tiny_mlp_vision.npz", "tips_tiny_mlp_text.npz", "tokenizer.model")


def _shipped(name: str) -> Path:
    installed = PACKAGE / name
    return installed if installed.is_dir() else CHECKOUT / SHIPPED[name]


def configs_dir() -> Path:
    """The paper's configs, trainer presets and sweep files (`configs/` of the checkout, or the wheel's copy)."""
    return _shipped("configs")


def demo_model_dir() -> Path:
    """The folder holding DEMO_MODEL_FILES: a tiny random TIPS model in the official file format."""
    return _shipped("demo_model")
