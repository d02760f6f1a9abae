"""Arguments of `load_tips` / `TipsSpec`: one way to name a checkpoint, towers that fit each other, head counts
that agree with the official presets, real dtypes and devices; each refused in one line before any tower is built."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lightning_modules.tips import TipsCheckpointError, TipsSpec, load_tips
from lightning_modules.tips.checkpoint_conversion import vision_config_from_arrays
from tests.conftest import TIPS_DATA, tiny_files


def _fake_vision(path, width: int):
    """The arrays a vision config is read from, for a one-block tower `width` wide (no other weights)."""
    np.savez(
        path,
        cls_token=np.zeros((1, 1, width), np.float32),
        pos_embed=np.zeros((1, 1 + 4, width), np.float32),
        **{"patch_embed.proj.weight": np.zeros((width, 3, 14, 14), np.float32)},
        **{"blocks.0.mlp.fc1.weight": np.zeros((4 * width, width), np.float32)},
    )
    return str(path)


def _fake_text(path, width: int, vocab: int = 32_000):
    np.savez(
        path,
        temperature=np.float32(0.01),
        **{"token_embedding.weight": np.zeros((vocab, width), np.float32)},
        **{"transformer.resblocks.0.mlp.c_fc.weight": np.zeros((4 * width, width), np.float32)},
    )
    return str(path)


def test_a_name_and_explicit_paths_together_are_refused(tmp_path):
    with pytest.raises(TipsCheckpointError, match=r"name='tips-v2-l14' and vision_checkpoint, text_checkpoint, tokenizer were both given; .*set name to null"):
        load_tips(**tiny_files("mlp"), name="tips-v2-l14", checkpoint_dir=str(tmp_path))
    with pytest.raises(TipsCheckpointError, match=r"name='tips-v2-l14' and tokenizer were both given"):
        TipsSpec(name="tips-v2-l14", checkpoint_dir=str(tmp_path), tokenizer=str(TIPS_DATA / "tokenizer.model"))


def test_checkpoint_dir_alone_is_a_hugging_face_folder_but_not_beside_explicit_paths():
    TipsSpec(checkpoint_dir="ckpts")  # a Hugging Face folder, checked when loaded
    with pytest.raises(TipsCheckpointError, match=r"checkpoint_dir='ckpts' \(without name: a Hugging Face folder\) and vision_checkpoint, text_checkpoint, tokenizer were both given; .*Fix: drop"):
        TipsSpec(**tiny_files("mlp"), checkpoint_dir="ckpts")


def test_incomplete_paths_name_what_is_missing():
    with pytest.raises(TipsCheckpointError, match=r"\(missing text_checkpoint, tokenizer\)"):
        TipsSpec(vision_checkpoint="a_vision.npz")
    with pytest.raises(TipsCheckpointError, match=r"\(missing vision_checkpoint, text_checkpoint, tokenizer\)"):
        TipsSpec()


def test_unknown_name_is_refused_when_the_spec_is_made(tmp_path):
    with pytest.raises(TipsCheckpointError, match=r"unknown TIPS checkpoint name 'tips-v2-L14'; expected one of"):
        TipsSpec(name="tips-v2-L14", checkpoint_dir=str(tmp_path))


@pytest.mark.parametrize(("argument", "value"), [("vision_num_heads", 2.5), ("text_num_heads", 0), ("vision_num_heads", True)])
def test_head_counts_must_be_positive_integers(argument, value):
    with pytest.raises(TipsCheckpointError, match=rf"{argument}={value!r}: expected a positive integer"):
        TipsSpec(**(tiny_files("mlp") | {argument: value}))
    with pytest.raises(TipsCheckpointError, match=rf"{argument}={value!r}: expected a positive integer"):
        load_tips(**(tiny_files("mlp") | {argument: value}))


def test_a_path_that_is_not_a_string_is_refused():
    with pytest.raises(TipsCheckpointError, match=r"tokenizer=3: expected a file or folder path"):
        TipsSpec(**(tiny_files("mlp") | {"tokenizer": 3}))


def test_a_head_count_contradicting_the_official_preset_of_that_width_is_refused(tmp_path):
    path = _fake_vision(tmp_path / "s_vision.npz", 384)
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    assert vision_config_from_arrays(arrays, path).num_heads == 6  # the S preset
    assert vision_config_from_arrays(arrays, path, num_heads=6).num_heads == 6
    with pytest.raises(TipsCheckpointError, match=r"s_vision\.npz: vision_num_heads=8 contradicts the official TIPS S preset of width 384, which has 6 heads; drop vision_num_heads"):
        vision_config_from_arrays(arrays, path, num_heads=8)  # 8 divides 384: it would load, and compute wrongly
    with pytest.raises(TipsCheckpointError, match=r"vision_num_heads=8 contradicts the official TIPS S preset"):
        load_tips(**(tiny_files("mlp") | {"vision_checkpoint": path, "vision_num_heads": 8}))


def test_towers_of_different_widths_are_refused_before_building(tmp_path):
    text = _fake_text(tmp_path / "narrow_text.npz", width=32)
    with pytest.raises(TipsCheckpointError, match=r"tips_tiny_mlp_vision\.npz is 64 wide but .*narrow_text\.npz is 32 wide; .*same release"):
        load_tips(**(tiny_files("mlp") | {"text_checkpoint": text}))


def test_dtype_by_name_and_bad_dtypes():
    model = load_tips(**tiny_files("mlp"), dtype="bfloat16")
    assert model.vision.cls_token.dtype == model.text.token_embedding.weight.dtype == torch.bfloat16
    with pytest.raises(TipsCheckpointError, match=r"dtype='bf16-mixed': the TIPS towers run in float32, .*set the Trainer's precision"):
        load_tips(**tiny_files("mlp"), dtype="bf16-mixed")
    with pytest.raises(TipsCheckpointError, match=r"dtype=torch\.int8: the TIPS towers run in"):
        TipsSpec(**tiny_files("mlp")).load(dtype=torch.int8)


def test_bad_device_string():
    with pytest.raises(TipsCheckpointError, match=r"device='gpu0' is not a torch device .*use e\.g\. 'cpu' or 'cuda:0'"):
        load_tips(**tiny_files("mlp"), device="gpu0")
