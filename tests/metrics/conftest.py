"""Anomaly maps for the metric tests: realistic (smooth, defects scored higher) and random with ties."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter


def _realistic_maps(n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Maps float32 [n, size, size] in [0, 1] and bool masks; the second half of the images hold
    1-3 elliptic defects, scored higher than their surroundings but with blurred edges, on a
    smooth texture (as upsampled, Gaussian-smoothed patch scores are)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    masks = np.zeros((n, size, size), bool)
    for i in range(n // 2, n):
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(0.1, 0.9, 2) * size
            ry, rx = rng.uniform(0.02, 0.12, 2) * size
            masks[i] |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    texture = gaussian_filter(rng.normal(size=(n, size, size)), sigma=(0, 4, 4))
    texture /= texture.std()
    defects = gaussian_filter(masks.astype(float), sigma=(0, 3, 3)) * rng.uniform(0.1, 0.5, (n, 1, 1))
    maps = np.clip(0.35 + 0.06 * texture + defects, 0, 1).astype(np.float32)
    return torch.from_numpy(maps), torch.from_numpy(masks)


def _random_maps(n: int, size: int, seed: int, levels: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform maps, optionally rounded to ``levels`` values (many ties), masks with several
    regions per mask, some touching only diagonally, and the first image without anomaly."""
    g = torch.Generator().manual_seed(seed)
    maps = torch.rand(n, size, size, generator=g)
    if levels:
        maps = torch.round(maps * (levels - 1)) / (levels - 1)
    masks = torch.rand(n, size, size, generator=g) < 0.08
    masks[:, 2:6, 2:7] = True  # a block per mask, plus the scattered pixels
    masks[0] = False
    maps = torch.clamp(maps + 0.25 * masks, 0, 1)
    return maps, masks


@pytest.fixture
def realistic_maps():
    return _realistic_maps


@pytest.fixture
def random_maps():
    return _random_maps
