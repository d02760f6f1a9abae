"""The LightningModule's own duties: construction, prompt checkpoints, training step, checkpoints."""

import pytest
import torch

from lightning_modules import Tipsomaly, TipsSpec
from lightning_modules.tipsomaly import PromptCheckpoint, save_prompt_checkpoint
from tests.conftest import fixture_images, tiny_files


def _module(**options):
    torch.manual_seed(0)
    return Tipsomaly(backbone=TipsSpec(**tiny_files("mlp")), **({"image_size": 224} | options))


def test_forward_gives_scores_and_maps_of_the_input_size():
    module = _module()
    out = module(fixture_images(224), ["bottle", "screw"])
    assert out.pred_score.shape == (2,)
    assert out.anomaly_map.shape == (2, 224, 224)
    # on values: the CLS token's fixed-prompt probability plus the largest abnormal patch probability
    tips = module.model.tips
    with torch.no_grad():
        first, _, patches = tips.encode_image(fixture_images(224))
        text = torch.nn.functional.normalize(module.model.text_bank.fixed(["bottle", "screw"]), dim=-1)
        unit = lambda x: torch.nn.functional.normalize(x, dim=-1)  # noqa: E731
        global_abnormal = ((unit(first)[:, None] @ text.transpose(1, 2)) / tips.temperature).softmax(-1)[:, 0, 1]
        patch_abnormal = ((unit(patches) @ text.transpose(1, 2)) / tips.temperature).softmax(-1)[..., 1]
    torch.testing.assert_close(out.pred_score, global_abnormal + patch_abnormal.max(dim=1).values, rtol=0, atol=1e-5)
    torch.testing.assert_close(out.pred_score, out.score_first)
    assert out.anomaly_map.min() >= 0 and out.anomaly_map.max() <= 1


def test_loads_our_prompt_checkpoint_and_marks_prompts_learned(tmp_path):
    normal, abnormal = torch.randn(8, 64), torch.randn(8, 64)
    path = tmp_path / "prompts.pt"
    save_prompt_checkpoint(path, PromptCheckpoint(normal, abnormal, {"prompt_method": "concat", "n_prompt": 8, "width": 64}))
    module = _module(prompt_checkpoint=str(path))
    torch.testing.assert_close(module.model.prompts.normal.detach(), normal)
    torch.testing.assert_close(module.model.prompts.abnormal.detach(), abnormal)
    assert module.model.uses_learned_prompts


@pytest.mark.parametrize("in_dict", [False, True])
def test_imports_a_reference_learnable_params_file(tmp_path, in_dict):
    prompts = torch.nn.ParameterList([torch.nn.Parameter(torch.randn(8, 64)), torch.nn.Parameter(torch.randn(8, 64))])
    path = tmp_path / "learnable_params_2.pth"
    torch.save({"learnable_prompts": prompts} if in_dict else prompts, path)
    module = _module(prompt_checkpoint=str(path))
    torch.testing.assert_close(module.model.prompts.abnormal.detach(), prompts[1].detach())


def test_prompt_checkpoint_of_another_width_is_refused(tmp_path):
    path = tmp_path / "wide.pt"
    save_prompt_checkpoint(path, PromptCheckpoint(torch.randn(8, 768), torch.randn(8, 768), {"n_prompt": 8, "width": 768}))
    with pytest.raises(ValueError, match="768 wide but the backbone's text width is 64"):
        _module(prompt_checkpoint=str(path))


def test_prompt_checkpoint_with_another_prompt_count_is_refused(tmp_path):
    path = tmp_path / "four.pt"
    save_prompt_checkpoint(path, PromptCheckpoint(torch.randn(4, 64), torch.randn(4, 64), {"n_prompt": 4, "width": 64}))
    with pytest.raises(ValueError, match=r"set n_prompt=4 to use this checkpoint"):
        _module(prompt_checkpoint=str(path))


def test_only_prompt_vectors_receive_gradients():
    module = _module(loss="both", l1_lambda=1e-3)
    out = module.model.training_forward(fixture_images(224))
    out.pixel_probabilities.sum().backward()
    with_grad = {name for name, p in module.named_parameters() if p.grad is not None}
    assert with_grad == {"model.prompts.normal", "model.prompts.abnormal"}


def test_lightning_checkpoint_stores_prompts_not_the_backbone():
    module = _module()
    with torch.no_grad():
        module.model.prompts.normal.add_(1.0)  # "trained": not what any seed gives
    module.model.prompts_changed()
    checkpoint = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(checkpoint)
    assert set(checkpoint["state_dict"]) == {"model.prompts.normal", "model.prompts.abnormal", "model.prompts_learned"}
    fresh = _module()
    assert not torch.equal(fresh.model.prompts.normal, module.model.prompts.normal) and not fresh.model.uses_learned_prompts
    fresh.on_load_checkpoint(checkpoint)
    fresh.load_state_dict(checkpoint["state_dict"])  # strict: the backbone comes from its files
    torch.testing.assert_close(fresh.model.prompts.normal, module.model.prompts.normal, rtol=0, atol=0)
    assert fresh.model.uses_learned_prompts and fresh.provenance()["prompt_hash"] == module.provenance()["prompt_hash"]


def test_deep_prompts_train_and_are_saved():
    module = _module(n_deep=2, d_deep=1)  # the tiny text tower has 2 layers: layer 1 takes them
    out = module.model.training_forward(fixture_images(224))
    out.pixel_probabilities[:, 1].sum().backward()
    deep = module.model.prompts.deep[0]
    assert deep.shape == (2, 64) and deep.grad is not None and deep.grad.abs().sum() > 0
    optimizer = module.configure_optimizers()
    assert sum(p.numel() for group in optimizer.param_groups for p in group["params"]) == 2 * 8 * 64 + 2 * 64
    checkpoint = module.model.prompts.to_checkpoint({"n_prompt": 8, "width": 64})
    assert checkpoint.deep.shape == (1, 2, 64)


def test_a_compiled_image_tower_scores_like_the_eager_one(tmp_path):
    import lightning as L

    eager, compiled = _module(), _module(compile_image_tower=True)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, default_root_dir=tmp_path)
    compiled.trainer = trainer  # setup() is what a Trainer calls before any step
    compiled.setup("test")
    assert compiled.model.tips.vision._compiled_call_impl is not None
    assert set(compiled.state_dict()) == set(eager.state_dict())  # checkpoints keep their keys
    images = fixture_images(224)
    with torch.no_grad():
        torch.testing.assert_close(compiled(images, ["bottle", "screw"]).anomaly_map, eager(images, ["bottle", "screw"]).anomaly_map, rtol=0, atol=1e-5)
