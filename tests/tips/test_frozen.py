"""The TIPS backbone is frozen: no gradients, always in eval mode."""

import torch


def test_no_parameter_takes_gradients(tiny_tips):
    model = tiny_tips("mlp")
    assert not any(p.requires_grad for p in model.parameters())


def test_train_mode_request_keeps_the_towers_in_eval():
    from lightning_modules.tips import load_tips
    from tests.conftest import tiny_files

    model = load_tips(**tiny_files("mlp"))
    parent = torch.nn.Module()
    parent.tips = model
    parent.train()  # what a training loop does to the module that holds the backbone
    assert not model.training and not model.vision.training and not model.text.training


def test_gradients_flow_to_text_inputs_through_the_frozen_tower(tiny_tips):
    model = tiny_tips("mlp")
    ids, paddings = model.tokenizer(["a photo of a bottle."])
    prompts = torch.zeros(3, model.text_width, requires_grad=True)
    model.text(ids, paddings, prompts=prompts, prompt_method="concat").sum().backward()
    assert prompts.grad is not None and prompts.grad.abs().sum() > 0
