"""What every benchmark shares: a TIPS checkpoint of an official size with random values, in the
official `.npz` layout (official ones cannot be downloaded here), timers, and the machine line.

The arithmetic of a tower depends on its sizes only, so random values time exactly what the
official files would; `load_tips` reads these files through the same conversion code.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lightning_modules.tips import TEXT_PRESETS, VISION_PRESETS  # noqa: E402

TOKENIZER = ROOT / "tests" / "data" / "tips" / "tokenizer.model"
POS_GRID = 32  # the high-resolution checkpoints' 32 x 32 position grid
TEXT_VOCAB = 1000  # the test tokenizer has fewer pieces; official files have 32000 rows


def _official_vision(preset: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    p = VISION_PRESETS[preset]
    dim, hidden = p.embed_dim, p.mlp_hidden

    def rand(*shape: int, scale: float = 0.02) -> np.ndarray:
        return (scale * rng.standard_normal(shape)).astype(np.float32)

    arrays = {
        "cls_token": rand(1, 1, dim),
        "register_tokens": rand(1, 1, dim),
        "pos_embed": rand(1, 1 + POS_GRID**2, dim),
        "mask_token": np.zeros((1, dim), np.float32),
        "patch_embed.proj.weight": rand(dim, 3, 14, 14),
        "patch_embed.proj.bias": rand(dim),
        "norm.weight": np.ones(dim, np.float32),
        "norm.bias": np.zeros(dim, np.float32),
    }
    if p.ffn_layer == "swiglu":
        mlp = {"mlp.w12.weight": rand(2 * hidden, dim), "mlp.w12.bias": rand(2 * hidden),
               "mlp.w3.weight": rand(dim, hidden), "mlp.w3.bias": rand(dim)}
    else:
        mlp = {"mlp.fc1.weight": rand(hidden, dim), "mlp.fc1.bias": rand(hidden),
               "mlp.fc2.weight": rand(dim, hidden), "mlp.fc2.bias": rand(dim)}
    for block in range(p.depth):
        layer = {
            "norm1.weight": np.ones(dim, np.float32), "norm1.bias": np.zeros(dim, np.float32),
            "attn.qkv.weight": rand(3 * dim, dim, scale=dim**-0.5), "attn.qkv.bias": rand(3 * dim),
            "attn.proj.weight": rand(dim, dim), "attn.proj.bias": rand(dim),
            "ls1.gamma": np.full(dim, 0.1, np.float32),
            "norm2.weight": np.ones(dim, np.float32), "norm2.bias": np.zeros(dim, np.float32),
            "ls2.gamma": np.full(dim, 0.1, np.float32),
            **mlp,
        }
        arrays.update({f"blocks.{block}.{key}": value for key, value in layer.items()})
    return arrays


def _official_text(preset: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    p = TEXT_PRESETS[preset]
    width, hidden = p.width, p.mlp_dim

    def rand(*shape: int, scale: float = 0.02) -> np.ndarray:
        return (scale * rng.standard_normal(shape)).astype(np.float32)

    arrays = {
        "token_embedding.weight": rand(TEXT_VOCAB, width, scale=1.0),
        "ln_final.weight": np.ones(width, np.float32),
        "ln_final.bias": np.zeros(width, np.float32),
        "temperature": np.array(0.01, np.float32),
    }
    for block in range(p.num_layers):
        layer = {
            "attn.in_proj_weight": rand(3 * width, width, scale=width**-0.5), "attn.in_proj_bias": rand(3 * width),
            "attn.out_proj.weight": rand(width, width), "attn.out_proj.bias": rand(width),
            "ln_1.weight": np.ones(width, np.float32), "ln_1.bias": np.zeros(width, np.float32),
            "ln_2.weight": np.ones(width, np.float32), "ln_2.bias": np.zeros(width, np.float32),
            "mlp.c_fc.weight": rand(hidden, width), "mlp.c_fc.bias": rand(hidden),
            "mlp.c_proj.weight": rand(width, hidden), "mlp.c_proj.bias": rand(width),
        }
        arrays.update({f"transformer.resblocks.{block}.{key}": value for key, value in layer.items()})
    return arrays


def write_random_checkpoint(folder: Path, preset: str = "S", seed: int = 0) -> dict[str, str]:
    """Write `random_<preset>_vision.npz` / `_text.npz` into `folder`; returns `load_tips` keyword arguments."""
    if preset not in VISION_PRESETS:
        raise ValueError(f"benchmarks: unknown preset {preset!r}; expected one of {sorted(VISION_PRESETS)}")
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    vision, text = folder / f"random_{preset}_vision.npz", folder / f"random_{preset}_text.npz"
    np.savez(vision, **_official_vision(preset, rng))
    np.savez(text, **_official_text(preset, rng))
    return dict(vision_checkpoint=str(vision), text_checkpoint=str(text), tokenizer=str(TOKENIZER))


def timed(fn: Callable[[], object], repeats: int = 1, sync: Callable[[], None] = lambda: None) -> float:
    """Best wall-clock seconds of `repeats` calls of fn (after sync), without a warm-up."""
    best = float("inf")
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def machine() -> str:
    """One line naming the machine, the torch build and the load, for the printed figures."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cpu = platform.processor() or platform.machine()
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return (f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads{gpu}; torch {torch.__version__}; "
            f"load average {load:.1f} at start")


class Stopwatch:
    """Seconds spent in wrapped callables, per stage (nested stages are not subtracted)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, owner, name: str, stage: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed_call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - start

        setattr(owner, name, timed_call)
        self._restore.append((owner, name, original))

    @contextlib.contextmanager
    def watching(self):
        self._restore = []
        try:
            yield self
        finally:
            for owner, name, original in reversed(self._restore):
                setattr(owner, name, original)
