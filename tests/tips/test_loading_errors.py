"""Every bad file or input gives an error that names the file, what was expected and the fix."""

import shutil

import numpy as np
import pytest
import torch

from lightning_modules.tips import TipsCheckpointError, load_tips
from tests.conftest import TIPS_DATA, tiny_files


def _write_npz(path, arrays, **extra):
    np.savez(path, **arrays, **extra)
    return str(path)


def _arrays(name):
    with np.load(TIPS_DATA / name) as archive:
        return {key: archive[key] for key in archive.files}


def test_missing_vision_file_is_named(tmp_path):
    args = tiny_files("mlp") | {"vision_checkpoint": str(tmp_path / "nope_vision.npz")}
    with pytest.raises(TipsCheckpointError, match=r"vision checkpoint .*nope_vision\.npz does not exist"):
        load_tips(**args)


def test_missing_official_files_are_all_listed(tmp_path):
    shutil.copy(TIPS_DATA / "tokenizer.model", tmp_path / "tokenizer.model")
    with pytest.raises(TipsCheckpointError) as error:
        load_tips(name="tips-v2-l14", checkpoint_dir=tmp_path)
    message = str(error.value)
    assert "tips_v2_oss_l14_vision.npz" in message and "tips_v2_oss_l14_text.npz" in message
    assert "tokenizer.model" not in message.split("missing")[1].split(".")[0]
    assert "download_checkpoints.sh" in message


def test_unknown_official_name_lists_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match=r"unknown TIPS checkpoint name 'tips-v3'.*tips-v2-l14 \(tips_v2_oss_l14\)"):
        load_tips(name="tips-v3", checkpoint_dir=tmp_path)


def test_text_file_given_as_vision_file():
    args = tiny_files("mlp")
    args["vision_checkpoint"], args["text_checkpoint"] = args["text_checkpoint"], args["vision_checkpoint"]
    with pytest.raises(TipsCheckpointError, match=r"tips_tiny_mlp_text\.npz is a TIPS text checkpoint but was given as the vision checkpoint; swap"):
        load_tips(**args)


def test_vision_file_given_as_text_file():
    args = tiny_files("mlp") | {"text_checkpoint": tiny_files("mlp")["vision_checkpoint"]}
    with pytest.raises(TipsCheckpointError, match=r"tips_tiny_mlp_vision\.npz is a TIPS vision checkpoint but was given as the text checkpoint"):
        load_tips(**args)


def test_shape_without_preset_needs_a_head_count():
    args = tiny_files("mlp") | {"vision_num_heads": None}
    with pytest.raises(TipsCheckpointError, match=r"a tower 64 wide fits no official TIPS preset .*pass vision_num_heads="):
        load_tips(**args)
    args = tiny_files("mlp") | {"text_num_heads": None}
    with pytest.raises(TipsCheckpointError, match=r"text\.npz: a tower 64 wide fits no official TIPS preset .*pass text_num_heads="):
        load_tips(**args)


def test_head_count_must_divide_the_width():
    with pytest.raises(TipsCheckpointError, match=r"width 64 is not divisible by vision_num_heads=5"):
        load_tips(**(tiny_files("mlp") | {"vision_num_heads": 5}))


def test_missing_key_is_reported(tmp_path):
    arrays = _arrays("tips_tiny_mlp_vision.npz")
    del arrays["blocks.1.ls2.gamma"]
    path = _write_npz(tmp_path / "cut_vision.npz", arrays)
    with pytest.raises(TipsCheckpointError, match=r"cut_vision\.npz: missing keys \['blocks\.1\.ls2\.gamma'\]"):
        load_tips(**(tiny_files("mlp") | {"vision_checkpoint": path}))


def test_unexpected_key_is_reported(tmp_path):
    arrays = _arrays("tips_tiny_mlp_text.npz")
    arrays["head.weight"] = np.zeros((3, 3), np.float32)
    path = _write_npz(tmp_path / "extra_text.npz", arrays)
    with pytest.raises(TipsCheckpointError, match=r"extra_text\.npz: unexpected keys \['head\.weight'\]"):
        load_tips(**(tiny_files("mlp") | {"text_checkpoint": path}))


def test_pickled_npz_is_refused_without_unpickling(tmp_path):
    arrays = _arrays("tips_tiny_mlp_vision.npz")
    path = _write_npz(tmp_path / "pickled_vision.npz", arrays, extra=np.array([{"a": 1}], dtype=object))
    with pytest.raises(TipsCheckpointError, match=r"pickled_vision\.npz holds pickled objects, which are never loaded"):
        load_tips(**(tiny_files("mlp") | {"vision_checkpoint": path}))


def test_file_that_is_not_an_npz(tmp_path):
    path = tmp_path / "broken_vision.npz"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(TipsCheckpointError, match=r"broken_vision\.npz is not a readable \.npz"):
        load_tips(**(tiny_files("mlp") | {"vision_checkpoint": str(path)}))


def test_text_file_without_temperature(tmp_path):
    arrays = _arrays("tips_tiny_mlp_text.npz")
    del arrays["temperature"]
    path = _write_npz(tmp_path / "notemp_text.npz", arrays)
    with pytest.raises(TipsCheckpointError, match=r"notemp_text\.npz: no temperature found"):
        load_tips(**(tiny_files("mlp") | {"text_checkpoint": path}))


def test_tokenizer_that_is_not_sentencepiece():
    args = tiny_files("mlp") | {"tokenizer": str(TIPS_DATA / "meta.json")}
    with pytest.raises(TipsCheckpointError, match=r"meta\.json is not a SentencePiece model"):
        load_tips(**args)


def test_missing_tokenizer():
    with pytest.raises(TipsCheckpointError, match=r"tokenizer file .*absent\.model does not exist"):
        load_tips(**(tiny_files("mlp") | {"tokenizer": "/nowhere/absent.model"}))


def test_image_size_not_a_multiple_of_14(tiny_tips):
    with pytest.raises(TipsCheckpointError, match=r"image size 500x448 is not a multiple of the patch size 14; resize to e\.g\. 504x448"):
        tiny_tips("mlp").encode_image(torch.zeros(1, 3, 500, 448))


def test_image_without_three_channels(tiny_tips):
    with pytest.raises(TipsCheckpointError, match=r"images must be \[B, 3, H, W\], got shape \(1, 1, 224, 224\)"):
        tiny_tips("mlp").encode_image(torch.zeros(1, 1, 224, 224))


def test_incomplete_explicit_arguments():
    with pytest.raises(TipsCheckpointError, match="give either name \\+ checkpoint_dir, or all of"):
        load_tips(vision_checkpoint="a_vision.npz")
