"""The method's constructor arguments, checked at construction so that nothing fails after hours of work."""

from __future__ import annotations

import math
import numbers

from lightning_modules.tips import PROMPT_METHODS

from .fixed_prompts import ENSEMBLES
from .scorer import IMAGE_TOKENS

LOSSES = ("seg", "cls", "both")
AUPRO_DEFINITIONS = ("mvtec", "reference")
FEATURE_CACHES = ("off", "memory", "disk")


def _fail(name: str, value, expected: str, fix: str = "") -> None:
    raise ValueError(f"Tipsomaly: {name}={value!r}; expected {expected}" + (f"; {fix}" if fix else ""))


def _integer(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        _fail(name, value, f"an integer >= {minimum}")


def _real(name: str, value, low: float, high: float = math.inf, low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        _fail(name, value, f"a finite number in {'(' if low_open else '['}{low}, {high}{')' if high == math.inf else ']'}")
    if value < low or (low_open and value == low) or value > high:
        _fail(name, value, f"a number in {'(' if low_open else '['}{low}, {high}{')' if high == math.inf else ']'}")


def _choice(name: str, value, choices) -> None:
    if value not in choices:
        _fail(name, value, f"one of {', '.join(map(str, choices))}")


def check_arguments(
    *,
    image_size,
    fixed_prompts,
    prompt_method,
    n_prompt,
    n_deep,
    d_deep,
    image_token,
    local_to_global,
    decoupled,
    sigma,
    loss,
    l1_lambda,
    lr,
    betas,
    feature_cache,
    feature_cache_dir,
    feature_cache_max_mb,
    exact_pixel_metrics,
    aupro,
    compile_image_tower=False,
    patch_size: int = 14,
) -> None:
    """Raise ValueError naming the first argument outside its type or range, with what was expected."""
    if image_size is not None:
        _integer("image_size", image_size, patch_size)
        if image_size % patch_size:  # the backbone's patch size (TIPS 14, SigLIP 16)
            _fail("image_size", image_size, f"a multiple of the patch size {patch_size}", f"e.g. {max(1, round(image_size / patch_size)) * patch_size}")
    _choice("fixed_prompts", fixed_prompts, sorted(ENSEMBLES))
    _choice("prompt_method", prompt_method, (*PROMPT_METHODS, "none"))
    _integer("n_prompt", n_prompt, 1)
    _integer("n_deep", n_deep, 0)
    _integer("d_deep", d_deep, 0)
    if (n_deep > 0) != (d_deep > 0):
        _fail("n_deep, d_deep", (n_deep, d_deep), "both > 0 (deep prompts on) or both 0 (off)", "set the other one too")
    _choice("image_token", image_token, IMAGE_TOKENS)
    flags = (("local_to_global", local_to_global), ("decoupled", decoupled), ("exact_pixel_metrics", exact_pixel_metrics))
    for name, value in (*flags, ("compile_image_tower", compile_image_tower)):
        if not isinstance(value, bool):
            _fail(name, value, "true or false")
    _real("sigma", sigma, 0.0)
    _choice("loss", loss, LOSSES)
    _real("l1_lambda", l1_lambda, 0.0)
    _real("lr", lr, 0.0, low_open=True)
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        _fail("betas", betas, "two numbers (beta1, beta2) in [0, 1)", "e.g. [0.5, 0.999]")
    for beta in betas:
        _real("betas", beta, 0.0, 1.0)
        if beta == 1.0:
            _fail("betas", betas, "two numbers in [0, 1)")
    _choice("feature_cache", feature_cache, FEATURE_CACHES)
    if feature_cache == "disk" and not feature_cache_dir:
        _fail("feature_cache_dir", feature_cache_dir, "a folder for feature_cache='disk'", "set --model.feature_cache_dir")
    _real("feature_cache_max_mb", feature_cache_max_mb, 0.0, low_open=True)
    _choice("aupro", aupro, AUPRO_DEFINITIONS)
