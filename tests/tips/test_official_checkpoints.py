"""Official names, folders, presets and the v2 temperature key."""

import shutil

import numpy as np
import pytest
import timm
import torch

from lightning_modules.tips import OFFICIAL_CHECKPOINTS, VISION_PRESETS, TipsSpec, TipsVisionTower, load_tips
from lightning_modules.tips.presets import swiglu_hidden
from lightning_modules.tips.vision_tower import VisionConfig
from tests.conftest import TIPS_DATA, fixture_images


def _official_folder(tmp_path, stem, kind="mlp"):
    shutil.copy(TIPS_DATA / f"tips_tiny_{kind}_vision.npz", tmp_path / f"{stem}_vision.npz")
    shutil.copy(TIPS_DATA / f"tips_tiny_{kind}_text.npz", tmp_path / f"{stem}_text.npz")
    shutil.copy(TIPS_DATA / "tokenizer.model", tmp_path / "tokenizer.model")
    return tmp_path


def test_the_ten_official_checkpoints_have_short_names():
    assert len(OFFICIAL_CHECKPOINTS) == 10
    assert OFFICIAL_CHECKPOINTS["tips-v1-l14-hr"] == "tips_oss_l14_highres_distilled"
    assert OFFICIAL_CHECKPOINTS["tips-v2-so400m14"] == "tips_v2_oss_so14"


@pytest.mark.parametrize("name", ["tips-v2-l14", "tips_v2_oss_l14"])
def test_load_by_short_or_official_name_from_the_download_folder(tmp_path, reference_outputs, name):
    folder = _official_folder(tmp_path, "tips_v2_oss_l14")
    model = TipsSpec(name=name, checkpoint_dir=str(folder), vision_num_heads=4, text_num_heads=4).load()
    with torch.no_grad():
        _, _, patches = model.encode_image(fixture_images(448))
    np.testing.assert_allclose(patches.numpy(), reference_outputs["mlp/vision/448/patch"], atol=1e-4, rtol=0)


def test_v2_temperature_key_is_read_and_reported(tmp_path):
    with np.load(TIPS_DATA / "tips_tiny_mlp_text.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["temperature_contrastive"] = arrays.pop("temperature") * 2
    np.savez(tmp_path / "v2_text.npz", **arrays)
    model = load_tips(
        vision_checkpoint=TIPS_DATA / "tips_tiny_mlp_vision.npz",
        text_checkpoint=tmp_path / "v2_text.npz",
        tokenizer=TIPS_DATA / "tokenizer.model",
        vision_num_heads=4,
        text_num_heads=4,
    )
    assert model.temperature_key == "temperature_contrastive"
    assert model.temperature == pytest.approx(0.02)


@pytest.mark.parametrize(
    "preset, timm_name",
    [("B", "vit_base_patch14_reg1_tipsv2"), ("L", "vit_large_patch14_reg1_tipsv2"),
     ("So400m", "vit_so400m_patch14_reg1_tipsv2"), ("g", "vit_giant_patch14_reg1_tipsv2")],
)
def test_presets_build_the_same_tensors_as_timms_tipsv2_models(preset, timm_name):
    p = VISION_PRESETS[preset]
    config = VisionConfig(p.embed_dim, p.depth, p.num_heads, p.mlp_hidden, p.ffn_layer, pos_grid=32)
    with torch.device("meta"):
        ours = TipsVisionTower(config)
        reference = timm.create_model(timm_name, pretrained=False, img_size=448, num_classes=0)
    ours_shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    timm_shapes = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert ours_shapes == timm_shapes


def test_giant_swiglu_hidden_size():
    assert swiglu_hidden(1536) == 4096
    assert swiglu_hidden(48) == 128  # the tiny fixture: w12 is [256, 48], w3 is [48, 128]
