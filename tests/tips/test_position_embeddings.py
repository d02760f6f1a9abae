"""Patch position embeddings are resampled like the official model, once per grid size."""

import numpy as np
import torch
import torch.nn.functional as F

from lightning_modules.tips import load_tips
from lightning_modules.tips.vision_tower import TipsVisionTower
from tests.conftest import TIPS_DATA, tiny_files


def _official_resample(pos_embed_with_cls: np.ndarray, rows: int, cols: int) -> torch.Tensor:
    """The official rule written out: bilinear, antialias, by output size, CLS position untouched."""
    grid = torch.from_numpy(pos_embed_with_cls[:, 1:])
    side = int(grid.shape[1] ** 0.5)
    grid = grid.reshape(1, side, side, -1).permute(0, 3, 1, 2)
    resampled = F.interpolate(grid, size=(rows, cols), mode="bilinear", antialias=True, align_corners=False)
    return resampled.permute(0, 2, 3, 1).reshape(1, rows * cols, -1)


def test_non_square_grid_matches_the_official_rule():
    model = load_tips(**tiny_files("mlp"))
    with np.load(TIPS_DATA / "tips_tiny_mlp_vision.npz") as archive:
        official = archive["pos_embed"]
    torch.testing.assert_close(model.vision.resampled_pos_embed((16, 37)), _official_resample(official, 16, 37))


def test_non_square_images_give_a_patch_per_14_pixels():
    model = load_tips(**tiny_files("swiglu"))
    with torch.no_grad():
        first, second, patches = model.encode_image(torch.rand(2, 3, 224, 518))
    assert first.shape == second.shape == (2, 48)
    assert patches.shape == (2, 16 * 37, 48)


def test_resampling_runs_once_per_grid_size(monkeypatch):
    import lightning_modules.tips.vision_tower as vision_tower

    calls = []
    original = vision_tower.resample_abs_pos_embed
    monkeypatch.setattr(vision_tower, "resample_abs_pos_embed", lambda *a, **k: calls.append(k["new_size"]) or original(*a, **k))
    model = load_tips(**tiny_files("mlp"))
    with torch.no_grad():
        for _ in range(3):
            model.encode_image(torch.rand(1, 3, 518, 518))
        model.encode_image(torch.rand(1, 3, 224, 224))
    assert calls == [[37, 37], [16, 16]]


def test_cache_is_dropped_when_weights_change():
    model = load_tips(**tiny_files("mlp"))
    before = model.vision.resampled_pos_embed((37, 37)).clone()
    state = model.vision.state_dict()
    state["pos_embed"] = state["pos_embed"] + 1.0
    model.vision.load_state_dict(state)
    assert not torch.allclose(model.vision.resampled_pos_embed((37, 37)), before)
    assert isinstance(model.vision, TipsVisionTower)
