"""A bad Hugging Face TIPS folder or hub id is one line naming the file, what was expected and the fix, before any
tower is built; hub ids come from the local cache and are never downloaded here."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from lightning_modules.tips import TipsCheckpointError, TipsSpec, load_tips
from tests.conftest import TIPS_DATA
from tests.tips.test_hf_checkpoints import HF_FOLDER, write_hf_folder

REPO = Path(__file__).parents[2]


@pytest.fixture
def folder(tmp_path):
    return Path(shutil.copytree(HF_FOLDER, tmp_path / "tipsv2"))


def _edit_config(folder, section=None, **values):
    config = json.loads((folder / "config.json").read_text())
    (config[section] if section else config).update(values)
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("missing", ["model.safetensors", "tokenizer.model"])
def test_a_missing_file_is_named(folder, missing):
    (folder / missing).unlink()
    with pytest.raises(TipsCheckpointError, match=rf"Hugging Face TIPS folder .*tipsv2 is incomplete: missing .*{missing}; download the whole snapshot"):
        load_tips(checkpoint_dir=folder)


def test_a_folder_without_config_json(folder):
    (folder / "config.json").unlink()
    with pytest.raises(TipsCheckpointError, match=r"tipsv2 has no config\.json; a Hugging Face TIPS folder holds config\.json, model\.safetensors"):
        load_tips(checkpoint_dir=folder)


def test_a_folder_of_official_npz_files_names_the_fix(tmp_path):
    shutil.copy(TIPS_DATA / "tips_tiny_mlp_vision.npz", tmp_path / "tips_v2_oss_b14_vision.npz")
    with pytest.raises(TipsCheckpointError, match=r"has no config\.json; .*It holds official \.npz files: give name \(e\.g\. name='tips-v2-l14'\)"):
        load_tips(checkpoint_dir=tmp_path)


def test_a_siglip_folder_is_named_a_siglip_backbone(folder):
    _edit_config(folder, model_type="siglip2")
    with pytest.raises(TipsCheckpointError, match=r"model_type 'siglip2' is a SigLIP 2 backbone, not TIPS; give it as a SigLIP backbone"):
        TipsSpec(checkpoint_dir=str(folder)).load()


def test_an_unknown_model_type(folder):
    _edit_config(folder, model_type="clip")
    with pytest.raises(TipsCheckpointError, match=r"config\.json: model_type 'clip' is not a TIPS model \(expected tipsv2\)"):
        load_tips(checkpoint_dir=folder)


def test_a_config_that_disagrees_with_the_ffn_kind(folder):
    _edit_config(folder, "vision_config", use_swiglu_ffn=True)
    with pytest.raises(TipsCheckpointError, match=r"model\.safetensors: the weights hold an MLP FFN but config\.json says use_swiglu_ffn=True"):
        load_tips(checkpoint_dir=folder)


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("vision_config", {"image_size": 448}, r"pos_embed holds 256 patch positions but config\.json's image_size 448 / patch_size 14 needs a 32\^2 grid"),
        ("vision_config", {"hidden_size": 96}, r"the vision tower's weights have hidden_size 64 but config\.json's vision_config says 96"),
        ("text_config", {"num_hidden_layers": 3}, r"the text tower's weights have num_hidden_layers 2 but config\.json's text_config says 3"),
        ("vision_config", {"num_register_tokens": 4}, r"1 register tokens in the weights, config\.json says num_register_tokens 4"),
        ("vision_config", {"patch_size": 16}, r"patch embedding is 14x14 but config\.json says patch_size 16"),
        ("text_config", {"hidden_act": "gelu"}, r"text_config\.hidden_act is 'gelu', TIPS uses 'relu'"),
        ("text_config", {"num_attention_heads": "4"}, r"config\.json: 'num_attention_heads' is '4', expected int"),
    ],
)
def test_a_config_that_does_not_belong_to_the_weights(folder, section, values, message):
    _edit_config(folder, section, **values)
    with pytest.raises(TipsCheckpointError, match=message):
        load_tips(checkpoint_dir=folder)


def test_a_weight_of_the_wrong_shape(folder):
    state = load_file(str(folder / "model.safetensors"))
    state["vision_encoder.blocks.1.attn.proj.weight"] = state["vision_encoder.blocks.1.attn.proj.weight"][:, :32].contiguous()
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(TipsCheckpointError, match=r"model\.safetensors: weights do not fit the tower .*blocks\.1\.attn\.proj\.weight"):
        load_tips(checkpoint_dir=folder)


def test_a_missing_weight_is_listed(folder):
    state = load_file(str(folder / "model.safetensors"))
    del state["text_encoder.transformer.resblocks.1.ln_2.bias"]
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(TipsCheckpointError, match=r"model\.safetensors: missing keys \['transformer\.resblocks\.1\.ln_2\.bias'\]"):
        load_tips(checkpoint_dir=folder)


def test_a_file_that_is_not_safetensors(folder):
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(TipsCheckpointError, match=r"model\.safetensors is not a readable safetensors file"):
        load_tips(checkpoint_dir=folder)


def test_a_head_count_contradicting_config_json(folder):
    with pytest.raises(TipsCheckpointError, match=r"vision_num_heads=8 contradicts .*config\.json, which says 4 heads"):
        load_tips(checkpoint_dir=folder, vision_num_heads=8)


def test_a_hub_id_with_paths_or_a_folder_is_refused():
    with pytest.raises(TipsCheckpointError, match=r"name='google/tipsv2-l14' is a Hugging Face hub id, .*and checkpoint_dir were also given"):
        TipsSpec(name="google/tipsv2-l14", checkpoint_dir="models")
    with pytest.raises(TipsCheckpointError, match=r"revision='main' is only read with a hub id as name"):
        load_tips(checkpoint_dir=HF_FOLDER, revision="main")


def _run_offline(tmp_path, code: str) -> subprocess.CompletedProcess:
    """Python in a fresh process whose Hugging Face cache is tmp_path/hub and which may not go online."""
    env = os.environ | {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path), "HF_HUB_CACHE": str(tmp_path / "hub"), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_a_hub_id_not_in_the_cache_while_offline_is_one_clear_error(tmp_path):
    result = _run_offline(tmp_path, "from lightning_modules.tips import load_tips\nload_tips(name='google/tipsv2-l14')")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("FileNotFoundError: hub id 'google/tipsv2-l14' is not in the local Hugging Face cache")
    assert str(tmp_path / "hub") in last and "HF_HUB_OFFLINE=1" in last and "checkpoint_dir=FOLDER" in last


def test_a_hub_id_in_the_cache_loads_offline_with_its_revision(tmp_path):
    repo = tmp_path / "hub" / "models--google--tipsv2-tiny"
    shutil.copytree(HF_FOLDER, repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    code = (
        "import json\nfrom lightning_modules.tips import TipsSpec\n"
        "model = TipsSpec(name='google/tipsv2-tiny').load()\n"
        "print(json.dumps(model.identity()), model.vision.config.embed_dim)"
    )
    result = _run_offline(tmp_path, code)
    assert result.returncode == 0, result.stderr[-2000:]
    identity, width = result.stdout.strip().rsplit(" ", 1)
    identity = json.loads(identity)
    assert identity["source"] == identity["label"] == "google/tipsv2-tiny"
    assert identity["revision"] == "0123abcd" and width == "64"
    # the same snapshot given as a folder keeps its hub id as the label and its commit as the revision
    folder_identity = load_tips(checkpoint_dir=repo / "snapshots" / "0123abcd").identity()
    assert folder_identity["label"] == "google/tipsv2-tiny" and folder_identity["revision"] == "0123abcd"
    assert folder_identity["fingerprint"] == identity["fingerprint"]


def test_a_swiglu_folder_with_a_mismatched_mlp_setting(tmp_path):
    folder = write_hf_folder(tmp_path / "swiglu", use_swiglu_ffn=False)
    with pytest.raises(TipsCheckpointError, match=r"the weights hold a SwiGLU FFN but config\.json says use_swiglu_ffn=False"):
        load_tips(checkpoint_dir=folder)


def test_a_folder_given_as_name_names_checkpoint_dir():
    with pytest.raises(TipsCheckpointError, match=r"name='.*hf' is a folder; give a Hugging Face folder as checkpoint_dir="):
        TipsSpec(name=str(HF_FOLDER))
