"""The method's settings as one object (timm's pretrained-cfg idea): what a `TipsomalyModel` scores with.

`Tipsomaly` (the LightningModule), `TipsomalyModel`, the `Detector`, `tipsomaly calibrate`/`export` and the
provenance all read these fields from here, instead of each repeating the argument list. The object checks
itself when made, so a bad value is refused before any weights load.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any, Mapping

from datamodules.resize import RESIZE_MODES
from lightning_modules.tips import PROMPT_METHODS
from lightning_modules.tips.vision_tower import PATCH_SIZE

from .fixed_prompts import ENSEMBLES
from .scorer import IMAGE_TOKENS


def fail(name: str, value, expected: str, fix: str = "") -> None:
    raise ValueError(f"Tipsomaly: {name}={value!r}; expected {expected}" + (f"; {fix}" if fix else ""))


def check_integer(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        fail(name, value, f"an integer >= {minimum}")


def check_real(name: str, value, low: float, high: float = math.inf, low_open: bool = False) -> None:
    interval = f"{'(' if low_open else '['}{low}, {high}{')' if high == math.inf else ']'}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        fail(name, value, f"a finite number in {interval}")
    if value < low or (low_open and value == low) or value > high:
        fail(name, value, f"a number in {interval}")


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        fail(name, value, f"one of {', '.join(map(str, choices))}")


def check_image_grid(image_size: int | None, patch_size: int = PATCH_SIZE) -> None:
    """`image_size` must be a multiple of the backbone's patch size (TIPS 14, SigLIP 16)."""
    if image_size is None:
        return
    check_integer("image_size", image_size, patch_size)
    if image_size % patch_size:
        fail("image_size", image_size, f"a multiple of the patch size {patch_size}", f"e.g. {max(1, round(image_size / patch_size)) * patch_size}")


def check_flag(name: str, value) -> None:
    if not isinstance(value, bool):
        fail(name, value, "true or false")


@dataclass(frozen=True)
class TipsomalySettings:
    """What a Tipsomaly model scores with (the LightningModule's arguments of the same names).

    image_size: S of the S x S input (None: not fixed yet; the first batch decides); resize: how the data
    brought images to S x S (`datamodules.resize`). fixed_prompts: the default prompt family. prompt_method,
    n_prompt, n_deep, d_deep: the learnable prompts ("none": fixed prompts only). image_token,
    local_to_global, decoupled, sigma: the scoring rule (see `TipsomalyModel`).
    """

    image_size: int | None = None
    resize: str = "reference"
    fixed_prompts: str = "industrial"
    prompt_method: str = "concat"
    n_prompt: int = 8
    n_deep: int = 0
    d_deep: int = 0
    image_token: str = "first"
    local_to_global: bool = True
    decoupled: bool = True
    sigma: float = 4.0

    def __post_init__(self) -> None:
        if self.image_size is not None:  # the patch grid is the backbone's: `check_image_grid` where it is known
            check_integer("image_size", self.image_size, 1)
        check_choice("resize", self.resize, RESIZE_MODES)
        check_choice("fixed_prompts", self.fixed_prompts, sorted(ENSEMBLES))
        check_choice("prompt_method", self.prompt_method, (*PROMPT_METHODS, "none"))
        check_integer("n_prompt", self.n_prompt, 1)
        check_integer("n_deep", self.n_deep, 0)
        check_integer("d_deep", self.d_deep, 0)
        if (self.n_deep > 0) != (self.d_deep > 0):
            fail("n_deep, d_deep", (self.n_deep, self.d_deep), "both > 0 (deep prompts on) or both 0 (off)", "set the other one too")
        check_choice("image_token", self.image_token, IMAGE_TOKENS)
        check_flag("local_to_global", self.local_to_global)
        check_flag("decoupled", self.decoupled)
        check_real("sigma", self.sigma, 0.0)

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], **changes) -> "TipsomalySettings":
        """The settings among `values` (e.g. a module's hparams or a run's `model:` config); other keys are ignored."""
        known = {name: values[name] for name in cls.fields() if name in values and values[name] is not None}
        return cls(**{**known, **changes})

    def replace(self, **changes) -> "TipsomalySettings":
        unknown = sorted(set(changes) - set(self.fields()))
        if unknown:
            raise ValueError(f"settings.py: unknown setting(s) {unknown}; the settings are {', '.join(self.fields())}")
        return dataclasses.replace(self, **changes)

    def scoring(self) -> dict:
        """The settings that change a score's scale (beyond backbone, size and prompts)."""
        return {"image_token": self.image_token, "local_to_global": self.local_to_global, "sigma": float(self.sigma), "decoupled": self.decoupled}
