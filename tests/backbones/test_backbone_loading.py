"""One `backbone` argument for every backbone: the kind read from the files, identities that tell backbones apart,
and transformers imported only for SigLIP."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from lightning_modules.backbones import (
    BackboneError, SiglipSpec, backbone_patch_size, backbone_spec, identity_key, identity_of, load_backbone,
)
from lightning_modules.backbones import loading
from lightning_modules.tips import TipsSpec
from tests.backbones.conftest import SIGLIP_FOLDER
from tests.conftest import tiny_files


def test_a_siglip_folder_is_a_siglip_spec_from_its_config_json():
    spec = backbone_spec({"checkpoint_dir": str(SIGLIP_FOLDER)})
    assert spec == SiglipSpec(checkpoint_dir=str(SIGLIP_FOLDER))
    assert backbone_patch_size(spec) == ("hf", 16)


def test_official_tips_files_stay_a_tips_spec():
    spec = backbone_spec(tiny_files("mlp"))
    assert isinstance(spec, TipsSpec) and spec.vision_checkpoint == tiny_files("mlp")["vision_checkpoint"]
    assert backbone_patch_size(spec)[1] == 14


def test_a_tipsv2_folder_goes_to_load_tips_with_its_folder(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "tipsv2", "vision_config": {"patch_size": 14}}))
    made = []
    monkeypatch.setattr(loading, "_tips_spec", lambda fields: made.append(fields) or fields)
    backbone_spec({"checkpoint_dir": str(tmp_path), "name": None, "vision_checkpoint": None})
    assert made == [{"checkpoint_dir": str(tmp_path)}]


def test_a_hub_id_is_read_from_the_cached_snapshot(tmp_path, monkeypatch):
    snapshot = tmp_path / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text((SIGLIP_FOLDER / "config.json").read_text())
    asked = []
    monkeypatch.setattr(loading, "resolve_hub_snapshot", lambda repo, revision=None: asked.append((repo, revision)) or snapshot)
    spec = backbone_spec({"name": "google/siglip2-base-patch16-224", "revision": "v1"})
    assert spec == SiglipSpec(name="google/siglip2-base-patch16-224", revision="v1") and asked == [("google/siglip2-base-patch16-224", "v1")]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "backbone names no checkpoint"),
        ({"name": "google/siglip2-base-patch16-224", "checkpoint_dir": "/somewhere"}, "is a hub id and checkpoint_dir='/somewhere' a folder; give one of them"),
        ({"checkpoint_dir": "/no/such/folder"}, "backbone folder '/no/such/folder' does not exist"),
    ],
)
def test_bad_backbone_arguments_are_one_line(fields, message):
    with pytest.raises(BackboneError, match=message):
        backbone_spec(fields)


def test_identities_tell_the_backbones_apart(tiny_siglip, tiny_tips):
    siglip, tips = identity_of(tiny_siglip), identity_of(tiny_tips("mlp"))
    assert siglip["kind"] == "siglip" and siglip["source"] == str(SIGLIP_FOLDER.resolve()) and siglip["revision"] is None
    assert tips["kind"] == "tips" and tips["label"] == "tips_tiny_mlp"
    assert len({identity_key(tiny_siglip), identity_key(tiny_tips("mlp")), identity_key(tiny_tips("swiglu"))}) == 3


def test_a_changed_weights_file_changes_the_fingerprint(tmp_path):
    folder = tmp_path / "copy"
    folder.mkdir()
    for path in SIGLIP_FOLDER.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    before = load_backbone({"checkpoint_dir": str(folder)}).identity()["fingerprint"]
    stat = (folder / "model.safetensors").stat()
    os.utime(folder / "model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched: same weights
    assert load_backbone({"checkpoint_dir": str(folder)}).identity()["fingerprint"] == before
    weights = bytearray((folder / "model.safetensors").read_bytes())
    weights[-1] ^= 0x01  # one bit of the last tensor: other weights
    (folder / "model.safetensors").write_bytes(bytes(weights))
    assert load_backbone({"checkpoint_dir": str(folder)}).identity()["fingerprint"] != before


def test_the_lightning_module_takes_a_siglip_folder_and_checks_its_patch_size():
    from lightning_modules.tipsomaly import Tipsomaly

    model = Tipsomaly(backbone={"checkpoint_dir": str(SIGLIP_FOLDER)}, image_size=32, feature_cache="off")
    assert model.model.tips.patch_size == 16 and model.hparams["backbone"]["checkpoint_dir"] == str(SIGLIP_FOLDER)
    assert model.model.feature_cache.backbone_key == identity_key(model.model.tips)
    with pytest.raises(ValueError, match=r"image_size=28; expected a multiple of the patch size 16; e\.g\. 32"):
        Tipsomaly(backbone={"checkpoint_dir": str(SIGLIP_FOLDER)}, image_size=28)


def test_a_corrupt_weights_file_is_one_line(tmp_path):
    for path in SIGLIP_FOLDER.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    with open(tmp_path / "model.safetensors", "ab") as weights:
        weights.write(b"x")
    with pytest.raises(BackboneError, match=f"SigLIP folder '{tmp_path}' does not load with transformers .*; re-download it"):
        load_backbone({"checkpoint_dir": str(tmp_path)})


def test_loading_tips_never_imports_transformers():
    """(torchmetrics, which Lightning imports, loads transformers by itself when it is installed; our code does not.)"""
    code = (
        "import sys, torch; from lightning_modules.backbones import load_backbone; "
        f"tips = load_backbone({tiny_files('mlp')!r}); tips.encode_image(torch.rand(1, 3, 28, 28)); tips.encode_text('x'); "
        "print('transformers' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_prompts_learned_on_tips_are_refused_by_a_siglip_model(tmp_path):
    from lightning_modules.tipsomaly import PromptCheckpoint, Tipsomaly, save_prompt_checkpoint

    tips_model = Tipsomaly(backbone=tiny_files("mlp"), feature_cache="off")
    settings = tips_model.prompt_file().settings
    assert settings["backbone_kind"] == "tips"
    save_prompt_checkpoint(tmp_path / "tips_prompts.pt", PromptCheckpoint(torch.zeros(8, 64), torch.zeros(8, 64), settings))
    with pytest.raises(BackboneError, match="prompts were learned on a tips backbone .* but this model runs siglip"):
        Tipsomaly(backbone={"checkpoint_dir": str(SIGLIP_FOLDER)}, prompt_checkpoint=str(tmp_path / "tips_prompts.pt"))
