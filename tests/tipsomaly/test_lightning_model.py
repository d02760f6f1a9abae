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
    out = _module()(fixture_images(224), ["bottle", "screw"])
    assert out.pred_score.shape == (2,)
    assert out.anomaly_map.shape == (2, 224, 224)


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
    checkpoint = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(checkpoint)
    assert set(checkpoint["state_dict"]) == {"model.prompts.normal", "model.prompts.abnormal", "model.prompts_learned"}
    fresh = _module()
    fresh.on_load_checkpoint(checkpoint)
    fresh.load_state_dict(checkpoint["state_dict"])  # strict: the backbone comes from its files
    torch.testing.assert_close(fresh.model.prompts.normal, module.model.prompts.normal)


def test_bad_settings_are_refused_early():
    with pytest.raises(ValueError, match="image_size must be a multiple of the patch size 14, got 500; e.g. 504"):
        _module(image_size=500)
    with pytest.raises(ValueError, match="loss must be one of seg, cls, both"):
        _module(loss="dice")
    with pytest.raises(ValueError, match="image_token must be 'first'"):
        _module(image_token="third")


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
