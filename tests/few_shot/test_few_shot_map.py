"""The few-shot map: exact nearest-neighbour cosine distances to the memory bank, smoothed like the zero-shot map,
combined with the zero-shot output as documented."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from lightning_modules.tipsomaly.few_shot import (
    FewShotMemory,
    check_few_shot_arguments,
    combine,
    few_shot_map,
    memory_bank,
    nearest_distances,
    rotated,
)
from lightning_modules.tipsomaly.scorer import ScorerOutput


def _brute_force(queries: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """float64 NumPy: (1 - max cosine) / 2 of every query row against every bank row."""
    q = queries / np.linalg.norm(queries, axis=-1, keepdims=True)
    b = bank / np.linalg.norm(bank, axis=-1, keepdims=True)
    return (1 - (q @ b.T).max(axis=-1)) / 2


@pytest.mark.parametrize("max_elements", [2**25, 37])  # one chunk, and many ragged chunks
def test_distances_equal_a_brute_force_numpy_nearest_neighbour_search(max_elements):
    generator = torch.Generator().manual_seed(0)
    references = torch.randn(3, 4, 16, 32, generator=generator)  # 3 classes x k=4 images x 16 patches x D=32
    banks = torch.stack([memory_bank(r) for r in references])  # [3, 64, 32]
    patches = torch.randn(5, 16, 32, generator=generator)
    index = torch.tensor([2, 0, 1, 2, 0])
    ours = nearest_distances(patches, banks, index, max_elements=max_elements)
    expected = np.stack([_brute_force(patches[i].double().numpy(), references[index[i]].reshape(-1, 32).double().numpy()) for i in range(5)])
    assert ours.dtype == torch.float32 and ours.shape == (5, 16)
    assert np.abs(ours.numpy() - expected).max() <= 1e-6
    one_bank = nearest_distances(patches, banks[1:2], None, max_elements=max_elements)
    expected_one = np.stack([_brute_force(p.double().numpy(), references[1].reshape(-1, 32).double().numpy()) for p in patches])
    assert np.abs(one_bank.numpy() - expected_one).max() <= 1e-6


def test_a_patch_of_a_reference_image_has_distance_zero_and_distances_lie_in_0_1():
    generator = torch.Generator().manual_seed(1)
    reference = torch.randn(2, 9, 8, generator=generator)
    banks = memory_bank(reference)[None]
    distances = nearest_distances(reference[:1], banks)
    assert distances.abs().max() <= 1e-6
    far = nearest_distances(-reference[:1], banks)  # opposite vectors are far, but never beyond 1
    assert 0 < far.min() and far.max() <= 1


def test_distances_stay_float32_under_bf16_autocast():
    generator = torch.Generator().manual_seed(2)
    bank = memory_bank(torch.randn(2, 16, 32, generator=generator))[None]
    patches = torch.randn(3, 16, 32, generator=generator).bfloat16()  # as a bf16 image tower returns them
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_bf16 = nearest_distances(patches, bank)
    assert under_bf16.dtype == torch.float32
    assert (under_bf16 - nearest_distances(patches.float(), bank)).abs().max() <= 1e-6


def test_the_map_is_upsampled_bilinearly_then_smoothed_like_scipy():
    distances = torch.rand(2, 16, generator=torch.Generator().manual_seed(3))
    maps = few_shot_map(distances, (4, 4), (56, 56), sigma=4.0)
    upsampled = F.interpolate(distances.reshape(2, 1, 4, 4), size=(56, 56), mode="bilinear", align_corners=False)[:, 0]
    expected = np.stack([gaussian_filter(m.double().numpy(), sigma=4.0) for m in upsampled])
    assert maps.shape == (2, 56, 56) and np.abs(maps.numpy() - expected).max() <= 1e-5


def _zero_shot():
    generator = torch.Generator().manual_seed(4)
    maps = torch.rand(2, 8, 8, generator=generator)
    return ScorerOutput(
        pred_score=torch.tensor([0.5, 1.5]), score_first=torch.tensor([0.5, 1.5]), score_second=torch.tensor([0.2, 0.3]),
        anomaly_map=maps, max_pixel_score=maps.flatten(1).amax(1), patch_probabilities=torch.rand(2, 4, 2, generator=generator),
    )


def test_combination_weights_the_maps_and_adds_the_few_shot_maximum_to_the_image_score():
    zero, few = _zero_shot(), torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(5))
    out = combine(zero, few, weight=0.25, only=False)
    assert torch.allclose(out.anomaly_map, 0.75 * zero.anomaly_map + 0.25 * few)
    few_max = few.flatten(1).amax(1)
    assert torch.allclose(out.pred_score, zero.pred_score + few_max) and torch.allclose(out.score_second, zero.score_second + few_max)
    assert torch.equal(out.max_pixel_score, out.anomaly_map.flatten(1).amax(1))
    only = combine(zero, few, weight=0.25, only=True)
    assert torch.equal(only.anomaly_map, few) and torch.equal(only.pred_score, few_max)


def test_rotations_add_the_three_quarter_turns():
    images = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    turned = rotated(images)
    assert turned.shape == (8, 3, 4, 4) and torch.equal(turned[:2], images)
    assert torch.equal(turned[2:4], torch.rot90(images, 1, (-2, -1))) and torch.equal(turned[6:], torch.rot90(images, 3, (-2, -1)))


def test_batches_of_one_class_or_of_several_use_each_images_own_bank():
    memory = FewShotMemory(weight=1.0, only=True, sigma=0.0)
    generator = torch.Generator().manual_seed(6)
    references = torch.randn(2, 1, 4, 8, generator=generator)  # classes a, b: k=1, a 2x2 grid
    memory.keys = {("s", "a"): 0, ("s", "b"): 1}
    memory.banks = torch.stack([memory_bank(r) for r in references])
    zero = ScorerOutput(*(torch.zeros(2) for _ in range(3)), torch.zeros(2, 28, 28), torch.zeros(2), torch.zeros(2, 4, 2))
    patches = torch.cat([references[0], references[1]])  # image 0 is a's reference, image 1 is b's
    mixed = memory.for_batch(["s", "s"], ["a", "b"])(zero, patches)
    assert mixed.anomaly_map.abs().max() <= 1e-6  # each image met its own class's bank
    swapped = memory.for_batch(["s", "s"], ["b", "a"])(zero, patches)
    assert swapped.anomaly_map.min() > 1e-3
    assert memory.for_batch(["other"], ["a"]) is None  # a set without references stays zero-shot
    with pytest.raises(ValueError, match="mixes few-shot classes with classes without a memory bank"):
        memory.for_batch(["s", "other"], ["a", "a"])


@pytest.mark.parametrize("weight, only, rotations, message", [
    (1.5, False, False, "few_shot_weight=1.5"), (0.5, "yes", False, "few_shot_only='yes'"), (0.5, False, 1, "few_shot_rotations=1"),
])
def test_bad_settings_are_refused(weight, only, rotations, message):
    with pytest.raises(ValueError, match=message):
        check_few_shot_arguments(weight, only, rotations)


def test_the_provenance_record_names_k_and_seed_per_set_only_when_they_differ():
    memory = FewShotMemory(weight=0.3)
    assert memory.describe() is None
    memory.settings = {"a": {"k": 4, "seed": 0}, "b": {"k": 4, "seed": 0}}
    assert memory.describe() == {"k": 4, "seed": 0, "weight": 0.3, "only": False, "rotations": False}
    memory.settings["b"] = {"k": 2, "seed": 1}
    assert memory.describe()["k"] == {"a": 4, "b": 2} and memory.describe()["seed"] == {"a": 0, "b": 1}
