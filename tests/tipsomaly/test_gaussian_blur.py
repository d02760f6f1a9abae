import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from lightning_modules.tipsomaly.gaussian import gaussian_blur, symmetric_indices


def scipy_blur(maps: torch.Tensor, sigma: float, truncate: float = 4.0) -> np.ndarray:
    return np.stack([gaussian_filter(m, sigma=sigma, truncate=truncate) for m in maps.numpy()])


@pytest.mark.parametrize("shape", [(2, 37, 37), (1, 5, 7), (3, 64, 48), (2, 1, 9)])
def test_matches_scipy_with_sigma_4(shape):
    maps = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    smoothed = gaussian_blur(maps, sigma=4)
    assert smoothed.shape == maps.shape and smoothed.dtype == torch.float32
    np.testing.assert_allclose(smoothed.numpy(), scipy_blur(maps, 4), rtol=0, atol=1e-5)


def test_matches_scipy_on_an_image_size_map_with_other_sigma_and_truncate():
    maps = torch.rand(2, 518, 518, generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(gaussian_blur(maps).numpy(), scipy_blur(maps, 4), rtol=0, atol=1e-5)
    np.testing.assert_allclose(gaussian_blur(maps[:, :40, :30], sigma=1.5, truncate=2.0).numpy(), scipy_blur(maps[:, :40, :30], 1.5, 2.0), rtol=0, atol=1e-5)


def test_float64_is_exact_and_bf16_is_computed_in_float32():
    maps = torch.rand(2, 20, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    np.testing.assert_allclose(gaussian_blur(maps).numpy(), scipy_blur(maps, 4), rtol=0, atol=1e-12)
    half = maps.to(torch.bfloat16)
    smoothed = gaussian_blur(half)
    assert smoothed.dtype == torch.float32
    np.testing.assert_allclose(smoothed.numpy(), scipy_blur(half.float(), 4), rtol=0, atol=1e-5)


def test_symmetric_padding_repeats_the_edge_even_past_the_map():
    for size, radius in [(3, 4), (1, 5), (6, 2), (4, 11)]:
        padded = symmetric_indices(size, radius).numpy()
        np.testing.assert_array_equal(padded, np.pad(np.arange(size), radius, mode="symmetric"))
    assert symmetric_indices(3, 2).tolist() == [1, 0, 0, 1, 2, 2, 1]


def test_sigma_zero_is_identity_and_constants_stay_constant():
    maps = torch.rand(1, 8, 8)
    assert torch.equal(gaussian_blur(maps, sigma=0), maps)
    torch.testing.assert_close(gaussian_blur(torch.full((1, 9, 13), 0.7)), torch.full((1, 9, 13), 0.7))
    with pytest.raises(ValueError, match=r"\[B, H, W\]"):
        gaussian_blur(torch.rand(8, 8))


def test_reduced_float32_matmul_precision_still_matches_scipy():
    """Users often allow TF32 / bf16 passes for speed; the blur must not inherit that error."""
    maps = torch.rand(2, 40, 50)
    expected = np.stack([gaussian_filter(m, sigma=4) for m in maps.numpy()])
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")
    try:
        blurred = gaussian_blur(maps, sigma=4.0)
    finally:
        torch.set_float32_matmul_precision(previous)
    assert blurred.dtype == torch.float32
    assert np.abs(blurred.numpy() - expected).max() <= 1e-5
