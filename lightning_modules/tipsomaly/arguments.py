"""The LightningModule's arguments beyond the method's settings (`settings.py`): training, caching, metrics.

Checked at construction so that nothing fails after hours of work.
"""

from __future__ import annotations

from typing import Any, Mapping

from .settings import check_choice, check_flag, check_real, fail

LOSSES = ("seg", "cls", "both")
AUPRO_DEFINITIONS = ("mvtec", "reference")
FEATURE_CACHES = ("off", "memory", "disk")


def check_arguments(h: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first training/caching/metric argument of `h` (the hparams) outside its range."""
    check_choice("loss", h["loss"], LOSSES)
    check_real("l1_lambda", h["l1_lambda"], 0.0)
    check_real("lr", h["lr"], 0.0, low_open=True)
    betas = h["betas"]
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        fail("betas", betas, "two numbers (beta1, beta2) in [0, 1)", "e.g. [0.5, 0.999]")
    for beta in betas:
        check_real("betas", beta, 0.0, 1.0)
        if beta == 1.0:
            fail("betas", betas, "two numbers in [0, 1)")
    check_choice("feature_cache", h["feature_cache"], FEATURE_CACHES)
    if h["feature_cache"] == "disk" and not h["feature_cache_dir"]:
        fail("feature_cache_dir", h["feature_cache_dir"], "a folder for feature_cache='disk'", "set --model.feature_cache_dir")
    check_real("feature_cache_max_mb", h["feature_cache_max_mb"], 0.0, low_open=True)
    check_flag("exact_pixel_metrics", h["exact_pixel_metrics"])
    check_flag("compile_image_tower", h["compile_image_tower"])
    check_choice("aupro", h["aupro"], AUPRO_DEFINITIONS)
