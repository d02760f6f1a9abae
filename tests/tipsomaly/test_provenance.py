"""`model.provenance()` says what scores (computed from the live model), and `compare_provenance` what differs."""

import shutil

import numpy as np
import pytest
import torch

from lightning_modules import Tipsomaly, TipsSpec
from lightning_modules.tipsomaly import PromptCheckpoint, TipsomalyModel, save_prompt_checkpoint
from lightning_modules.tipsomaly.prompt_checkpoint import PromptCheckpointError
from lightning_modules.backbones.protocol import identity_of as backbone_identity
from lightning_modules.tipsomaly.provenance import compare_provenance, tensors_sha256
from lightning_modules.tipsomaly.settings import TipsomalySettings
from tests.conftest import tiny_files

KEYS = {"backbone", "image_size", "resize", "prompt_hash", "prompt_method", "n_prompt", "n_deep", "fixed_prompts", "scoring", "few_shot", "tipsomaly_version"}


def _module(**options):
    return Tipsomaly(backbone=TipsSpec(**tiny_files("mlp")), **({"image_size": 28} | options))


def test_provenance_of_a_fresh_module_is_a_fixed_prompt_model(tiny_tips):
    provenance = _module(sigma=2.0, resize="letterbox").provenance()
    assert set(provenance) == KEYS
    assert provenance["prompt_hash"] is None and provenance["prompt_method"] == "none"  # untrained prompts never score
    assert provenance["image_size"] == [28, 28] and provenance["resize"] == "letterbox" and provenance["fixed_prompts"] == "industrial"
    assert provenance["scoring"] == {"image_token": "first", "local_to_global": True, "sigma": 2.0, "decoupled": True}
    assert provenance["backbone"]["label"] == "tips_tiny_mlp" and provenance["backbone"] == backbone_identity(tiny_tips("mlp"))


def test_the_prompt_hash_is_of_the_tensors_that_score_wherever_they_came_from(tmp_path):
    normal, abnormal = torch.randn(8, 64), torch.randn(8, 64)
    save_prompt_checkpoint(tmp_path / "p.pt", PromptCheckpoint(normal, abnormal, {"prompt_method": "concat"}))
    from_file = _module(prompt_checkpoint=str(tmp_path / "p.pt"))
    assert from_file.provenance()["prompt_hash"] == tensors_sha256([normal, abnormal])
    assert from_file.provenance()["prompt_method"] == "concat" and from_file.provenance()["n_prompt"] == 8
    from_state = _module()
    from_state.load_state_dict(from_file.state_dict())
    assert from_state.provenance() == from_file.provenance()
    with torch.no_grad():
        from_state.model.prompts.abnormal[0, 0] += 1e-3  # a training step moves them: another hash
    assert compare_provenance(from_file.provenance(), from_state.provenance()) == [
        f"prompt_hash: 'learned prompts {from_file.provenance()['prompt_hash'][:12]}' there, "
        f"'learned prompts {from_state.provenance()['prompt_hash'][:12]}' here"
    ]


def test_compare_provenance_lists_every_scoring_difference_and_ignores_descriptions(tiny_tips):
    a = TipsomalyModel(tiny_tips("mlp"), TipsomalySettings(image_size=56)).provenance()
    b = TipsomalyModel(tiny_tips("mlp"), TipsomalySettings(image_size=56, sigma=1.0, resize="letterbox", fixed_prompts="medical")).provenance()
    assert compare_provenance(a, b) == [
        "fixed_prompts: 'industrial' there, 'medical' here",
        "resize: 'reference' there, 'letterbox' here",
        "scoring.sigma: 4.0 there, 1.0 here",
    ]
    moved = {**a, "tipsomaly_version": "9.9", "backbone": {**a["backbone"], "source": ["/elsewhere/x.npz"]}}
    assert compare_provenance(a, moved) == []


def test_the_backbone_fingerprint_follows_the_weights_not_the_folder(tmp_path, tiny_tips):
    from lightning_modules.tips import load_tips

    files = tiny_files("mlp")
    for key in ("vision_checkpoint", "text_checkpoint", "tokenizer"):
        files[key] = shutil.copy(files[key], tmp_path)
    copied = backbone_identity(load_tips(**files))
    assert copied["fingerprint"] == backbone_identity(tiny_tips("mlp"))["fingerprint"] and str(tmp_path) in str(copied["source"])
    assert backbone_identity(tiny_tips("swiglu"))["fingerprint"] != copied["fingerprint"]  # same width 64, other weights


def _another_backbone_of_the_same_width(folder) -> dict:
    """The tiny mlp checkpoint with one vision weight changed: width 64 as before, other weights."""
    files = tiny_files("mlp")
    with np.load(files["vision_checkpoint"]) as arrays:
        changed = {key: arrays[key] for key in arrays.files}
    key = sorted(changed)[-1]
    changed[key] = changed[key] + 0.01
    files["vision_checkpoint"] = str(folder / "tips_tiny_other_vision.npz")
    np.savez(files["vision_checkpoint"], **changed)
    return files


def test_a_prompt_file_records_its_backbone_and_is_refused_on_another_of_the_same_width(tmp_path):
    other = _another_backbone_of_the_same_width(tmp_path)
    trained = _module()
    trained.model.prompts_changed()
    save_prompt_checkpoint(tmp_path / "mlp.pt", trained.prompt_file())
    assert trained.prompt_file().settings["backbone_fingerprint"] == trained.provenance()["backbone"]["fingerprint"]
    with pytest.raises(PromptCheckpointError, match=r"mlp.pt were trained with backbone 'tips_tiny_mlp' .* but the model uses 'tips_tiny_other'"):
        Tipsomaly(backbone=TipsSpec(**other), image_size=28, prompt_checkpoint=str(tmp_path / "mlp.pt"))
    assert _module(prompt_checkpoint=str(tmp_path / "mlp.pt")).provenance()["prompt_hash"] == trained.provenance()["prompt_hash"]
    old = PromptCheckpoint(torch.randn(8, 64), torch.randn(8, 64), {"prompt_method": "concat"})  # written before fingerprints
    save_prompt_checkpoint(tmp_path / "old.pt", old)
    with pytest.warns(UserWarning, match="old.pt does not record which backbone"):
        Tipsomaly(backbone=TipsSpec(**other), image_size=28, prompt_checkpoint=str(tmp_path / "old.pt"))


def test_one_settings_object_holds_what_the_module_scores_with():
    module = _module(sigma=1.5, image_token="second", fixed_prompts="medical", n_prompt=4)
    assert module.settings == TipsomalySettings(image_size=28, sigma=1.5, image_token="second", fixed_prompts="medical", n_prompt=4)
    assert module.model.settings == module.settings and module.model.scorer.sigma == 1.5
    with pytest.raises(ValueError, match=r"Tipsomaly: resize='square'; expected one of reference, letterbox"):
        _module(resize="square")


def test_prompt_files_are_written_with_mode_0644(tmp_path):
    save_prompt_checkpoint(tmp_path / "p.pt", PromptCheckpoint(torch.zeros(2, 8), torch.zeros(2, 8)))
    assert (tmp_path / "p.pt").stat().st_mode & 0o777 == 0o644
