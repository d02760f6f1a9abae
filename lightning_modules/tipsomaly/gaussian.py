"""Gaussian smoothing of anomaly maps in torch, equal to `scipy.ndimage.gaussian_filter` with its defaults.

The reference smooths each upsampled map on the CPU with `gaussian_filter(map, sigma=4)`;
doing the same on the batch's device saves the copy and the per-map Python loop.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor


def gaussian_kernel1d(sigma: float, truncate: float = 4.0, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
    """scipy's kernel: `exp(-x^2 / (2 sigma^2))` for x in [-r, r], r = int(truncate * sigma + 0.5), divided by its sum."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64, device=device)
    kernel = torch.exp(-0.5 / sigma**2 * x**2)
    return (kernel / kernel.sum()).to(dtype)


def symmetric_indices(size: int, radius: int, device=None) -> Tensor:
    """Source index of each of the `size + 2 * radius` padded positions under scipy's "reflect" mode.

    scipy's "reflect" is half-sample symmetric (d c b a | a b c d | d c b a): the edge sample
    is repeated, unlike torch's "reflect" padding. The extension is periodic with period
    `2 * size`, so it also covers a radius longer than the signal, as happens for small maps.
    """
    positions = torch.arange(-radius, size + radius, device=device) % (2 * size)
    return torch.where(positions < size, positions, 2 * size - 1 - positions)


@functools.lru_cache(maxsize=16)
def blur_matrix(size: int, sigma: float, truncate: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """[size, size] matrix M with (x @ M) = x blurred along its last axis, scipy "reflect" borders included.

    Column j holds the kernel weights at the source index of each tap, so taps that fall off
    an edge add onto their mirrored samples.
    """
    weights = gaussian_kernel1d(sigma, truncate, torch.float64)
    radius = (len(weights) - 1) // 2
    sources = symmetric_indices(size, radius)
    taps = torch.arange(len(weights))
    rows = sources[torch.arange(size)[:, None] + taps[None, :]]  # [size, taps]: source of tap k for output j
    cols = torch.arange(size)[:, None].expand_as(rows)
    matrix = torch.zeros(size, size, dtype=torch.float64)
    matrix.index_put_((rows.reshape(-1), cols.reshape(-1)), weights.repeat(size), accumulate=True)
    return matrix.to(dtype=dtype, device=device)


def gaussian_blur(maps: Tensor, sigma: float = 4.0, truncate: float = 4.0) -> Tensor:
    """Smooth maps `[B, H, W]` along H and W; values keep their range (the kernel sums to 1).

    Same result as `scipy.ndimage.gaussian_filter(m, sigma, mode="reflect", truncate=truncate)`
    on each map, to about 1e-7 in float32. Computed on `maps.device` in float32, or float64 for
    float64 input, whatever the autocast setting; returned in that dtype (so bf16/fp16 maps come
    back as float32).
    `sigma=0` returns the maps unchanged, as scipy does.
    """
    if maps.dim() != 3:
        raise ValueError(f"gaussian.py: expected maps [B, H, W], got shape {tuple(maps.shape)}; add or remove a batch dimension")
    if sigma < 0:
        raise ValueError(f"gaussian.py: sigma must be >= 0, got {sigma}")
    dtype = torch.promote_types(maps.dtype, torch.float32)
    maps = maps.to(dtype)
    if sigma == 0:
        return maps
    # Separable, as two banded matrix products (faster than scipy's loop on a CPU, and on the
    # batch's device). Under a reduced float32 matmul precision (TF32 / bf16 passes) the products
    # would miss scipy by ~1e-3, so they then run in float64.
    work = dtype if dtype == torch.float64 or torch.get_float32_matmul_precision() == "highest" else torch.float64
    rows = blur_matrix(maps.shape[1], float(sigma), float(truncate), work, maps.device)
    cols = blur_matrix(maps.shape[2], float(sigma), float(truncate), work, maps.device)
    # autocast would run these products in bf16: ~200 distinct values left on a 112 px map
    with torch.autocast(device_type=maps.device.type, enabled=False):
        return (rows.T @ maps.to(work) @ cols).to(dtype)
