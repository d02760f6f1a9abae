"""TIPS in the Hugging Face transformers layout (config.json, model.safetensors, tokenizer.model) equals transformers'
own Tipsv2Model outputs, and the official SwiGLU outputs when the official weights are written in that layout."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from lightning_modules.tips import TipsSpec, load_tips
from lightning_modules.tips.hf_checkpoint_conversion import convert_hf_state
from tests.conftest import TIPS_DATA, fixture_images

HF_DATA = Path(__file__).parents[1] / "data" / "hf_tipsv2"
HF_FOLDER = HF_DATA / "hf"
TOLERANCE = 1e-4  # the bound, float32; measured: 0 (bit-equal) at every size


@pytest.fixture(scope="module")
def hf_reference():
    with np.load(HF_DATA / "hf_reference.npz") as archive:
        return {key: archive[key] for key in archive.files}


@pytest.fixture(scope="module")
def hf_tips():
    return load_tips(checkpoint_dir=HF_FOLDER)


@pytest.mark.parametrize("size", [224, 126, 518])
def test_image_tower_matches_transformers_at_every_size(hf_tips, hf_reference, size):
    with torch.no_grad():
        first, second, patches = hf_tips.encode_image(fixture_images(size))
    assert patches.shape == (2, (size // 14) ** 2, 64)
    np.testing.assert_allclose(first.numpy(), hf_reference[f"vision/{size}/cls1"][:, 0], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(second.numpy(), hf_reference[f"vision/{size}/cls2"][:, 0], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(patches.numpy(), hf_reference[f"vision/{size}/patch"], rtol=0, atol=TOLERANCE)


def test_text_tower_matches_transformers_masked_mean(hf_tips, hf_reference):
    sentences = [str(s) for s in hf_reference["sentences"]]
    ids, paddings = hf_tips.tokenizer(sentences)
    np.testing.assert_array_equal(ids.numpy(), hf_reference["text/ids"])
    with torch.no_grad():
        from_ids = hf_tips.text(torch.from_numpy(hf_reference["text/ids"]), paddings)
        from_sentences = hf_tips.encode_text(sentences)
    np.testing.assert_allclose(from_ids.numpy(), hf_reference["text/embeddings"], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(from_sentences.numpy(), hf_reference["text/embeddings"], rtol=0, atol=TOLERANCE)


def test_sizes_and_settings_come_from_config_json(hf_tips, hf_reference):
    vision, text = hf_tips.vision.config, hf_tips.text.config
    assert (vision.embed_dim, vision.depth, vision.num_heads, vision.mlp_hidden, vision.ffn_layer) == (64, 2, 4, 256, "mlp")
    assert (vision.pos_grid, vision.num_register_tokens, vision.layer_norm_eps) == (16, 1, 1e-6)
    assert (text.width, text.num_layers, text.num_heads, text.mlp_dim, text.vocab_size, text.layer_norm_eps) == (64, 2, 4, 256, 1000, 1e-5)
    assert hf_tips.text.ln_final.eps == 1e-5 and hf_tips.vision.norm.eps == 1e-6
    assert hf_tips.tokenizer.max_len == 64
    assert hf_tips.temperature == pytest.approx(float(hf_reference["temperature"]), abs=0)
    assert hf_tips.patch_size == 14


def test_a_spec_with_only_checkpoint_dir_loads_the_folder(hf_tips):
    spec = TipsSpec(checkpoint_dir=str(HF_FOLDER))
    assert spec.label == "hf"
    model = spec.load()
    torch.testing.assert_close(model.vision.pos_embed, hf_tips.vision.pos_embed, rtol=0, atol=0)


def test_the_key_converter_renames_into_the_project_keys():
    cls, pos = torch.ones(1, 1, 2), torch.arange(6.0).reshape(1, 3, 2)
    state = {
        "vision_encoder.cls_token": cls, "vision_encoder.pos_embed": pos, "vision_encoder.mask_token": torch.zeros(1, 2),
        "vision_encoder.register_tokens": torch.full((1, 1, 2), 7.0),
        "vision_encoder.blocks.0.mlp.c_fc.weight": torch.zeros(8, 2), "vision_encoder.blocks.0.mlp.c_proj.bias": torch.zeros(2),
        "text_encoder.transformer.resblocks.0.attn.in_proj_weight": torch.zeros(6, 2), "temperature": torch.tensor(0.5),
    }
    vision, text, temperature = convert_hf_state(state)
    assert sorted(vision) == ["blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc2.bias", "cls_token", "pos_embed", "reg_token"]
    torch.testing.assert_close(vision["cls_token"], cls + pos[:, :1])  # the CLS position folded into the token
    torch.testing.assert_close(vision["pos_embed"], pos[:, 1:])
    assert list(text) == ["transformer.resblocks.0.attn.in_proj_weight"] and float(temperature) == 0.5


def _official(name):
    with np.load(TIPS_DATA / name) as archive:
        return {key: archive[key] for key in archive.files}


def write_hf_folder(folder: Path, kind: str = "swiglu", **vision_overrides) -> Path:
    """The official tiny `kind` checkpoint written in the transformers layout (as save_pretrained writes it)."""
    vision, text = _official(f"tips_tiny_{kind}_vision.npz"), _official(f"tips_tiny_{kind}_text.npz")
    tensors = {"temperature": np.asarray(text.pop("temperature"), np.float32)}
    for key, value in vision.items():
        tensors["vision_encoder." + key.replace(".mlp.fc1.", ".mlp.c_fc.").replace(".mlp.fc2.", ".mlp.c_proj.")] = value
    tensors.update({"text_encoder." + key: value for key, value in text.items()})
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(folder / "model.safetensors"))
    config = json.loads((HF_FOLDER / "config.json").read_text())
    width = vision["cls_token"].shape[-1]
    depth = 1 + max(int(k.split(".")[1]) for k in vision if k.startswith("blocks."))
    config["vision_config"].update({"hidden_size": width, "num_hidden_layers": depth, "image_size": 448, "use_swiglu_ffn": kind == "swiglu"} | vision_overrides)
    text_layers = 1 + max(int(k.split(".")[2]) for k in text if k.startswith("transformer.resblocks."))
    config["text_config"].update(hidden_size=width, num_hidden_layers=text_layers, intermediate_size=text["transformer.resblocks.0.mlp.c_fc.weight"].shape[0])
    (folder / "config.json").write_text(json.dumps(config))
    shutil.copy(TIPS_DATA / "tokenizer.model", folder / "tokenizer.model")
    return folder


@pytest.mark.parametrize("size", [224, 518])
def test_a_swiglu_tower_in_the_hf_layout_matches_the_official_outputs(tmp_path, reference_outputs, fixture_sentences, size):
    model = load_tips(checkpoint_dir=write_hf_folder(tmp_path / "swiglu"))
    assert model.vision.config.ffn_layer == "swiglu"
    with torch.no_grad():
        first, second, patches = model.encode_image(fixture_images(size))
        text = model.encode_text(fixture_sentences)
    np.testing.assert_allclose(first.numpy(), reference_outputs[f"swiglu/vision/{size}/cls1"][:, 0], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(second.numpy(), reference_outputs[f"swiglu/vision/{size}/cls2"][:, 0], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(patches.numpy(), reference_outputs[f"swiglu/vision/{size}/patch"], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(text.numpy(), reference_outputs["swiglu/text/embeddings"], rtol=0, atol=TOLERANCE)
    assert model.temperature == pytest.approx(0.01)


def test_weights_without_a_temperature_use_the_config_value(tmp_path):
    from safetensors.torch import load_file, save_file as save_torch

    folder = tmp_path / "no_temperature"
    shutil.copytree(HF_FOLDER, folder)
    state = load_file(str(folder / "model.safetensors"))
    del state["temperature"]
    save_torch(state, str(folder / "model.safetensors"))
    config = json.loads((folder / "config.json").read_text()) | {"temperature_init_value": 0.02}
    (folder / "config.json").write_text(json.dumps(config))
    model = load_tips(checkpoint_dir=folder)
    assert model.temperature == 0.02 and model.temperature_key == "config.json:temperature_init_value"


def test_identity_names_the_folder_and_changes_with_the_files(tmp_path):
    folder = shutil.copytree(HF_FOLDER, tmp_path / "tipsv2-tiny")
    model = load_tips(checkpoint_dir=folder)
    identity = model.identity()
    assert identity["kind"] == "tips" and identity["label"] == "tipsv2-tiny" and identity["revision"] is None
    assert str(folder.resolve() / "model.safetensors") in identity["source"]
    assert identity == model.identity()  # stable
    moved = shutil.copytree(folder, tmp_path / "elsewhere")  # a copy is the same weights
    assert load_tips(checkpoint_dir=moved).identity()["fingerprint"] == identity["fingerprint"]
    weights = bytearray((folder / "model.safetensors").read_bytes())
    weights[-1] ^= 0x01  # one bit of the last tensor: other weights
    (folder / "model.safetensors").write_bytes(bytes(weights))
    assert load_tips(checkpoint_dir=folder).identity()["fingerprint"] != identity["fingerprint"]


def test_official_identity_keeps_its_name(tmp_path):
    for name in ("tips_tiny_mlp_vision.npz", "tips_tiny_mlp_text.npz", "tokenizer.model"):
        shutil.copy(TIPS_DATA / name, tmp_path / name.replace("tips_tiny_mlp", "tips_v2_oss_b14"))
    model = load_tips(name="tips-v2-b14", checkpoint_dir=tmp_path, vision_num_heads=4, text_num_heads=4)
    identity = model.identity()
    assert identity["label"] == "tips-v2-b14" and "tips_v2_oss_b14_vision.npz" in identity["source"]
    assert len(identity["fingerprint"]) == 16


def test_tipsomaly_fits_and_tests_on_a_hugging_face_folder(tmp_path):
    import lightning as L

    from datamodules import AnomalyDataModule, make_synthetic_dataset
    from lightning_modules import Tipsomaly

    sets = [
        [{"name": name, "format": "mvtec", "root": str(make_synthetic_dataset(tmp_path / name, n_normal=3, n_anomalous=3, seed=seed))}]
        for seed, name in enumerate(["train", "test"])
    ]
    data = AnomalyDataModule(train_sets=sets[0], test_sets=sets[1], image_size=56, batch_size=4, num_workers=0)
    trainer = dict(max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip
    torch.manual_seed(0)
    module = Tipsomaly(backbone={"checkpoint_dir": str(HF_FOLDER)}, image_size=56, lr=1e-2)
    assert module.model.tips.identity()["label"] == "hf"
    before = module.model.prompts.normal.detach().clone()
    L.Trainer(**trainer).fit(module, datamodule=data)
    assert not torch.equal(before, module.model.prompts.normal)
    L.Trainer(**trainer).test(module, datamodule=data)
    table = module.test_results
    assert len(table) >= 1 and table["image_auroc"].between(0, 100).all()
