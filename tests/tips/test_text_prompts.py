"""Extra input embeddings before, added to, or instead of the token embeddings; deep prompts."""

import pytest
import torch

from lightning_modules.tips import insert_prompt_embeddings


def _tokens(batch=2, length=6, width=4):
    tokens = torch.arange(batch * length * width, dtype=torch.float32).reshape(batch, length, width)
    paddings = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0]])[:batch]
    return tokens, paddings


def test_concat_prepends_non_padding_prompts_and_cuts_back_to_length():
    tokens, paddings = _tokens()
    prompts = -torch.ones(2, 4)
    x, pads = insert_prompt_embeddings(tokens, paddings, prompts, "concat")
    assert x.shape == tokens.shape
    torch.testing.assert_close(x[:, :2], -torch.ones(2, 2, 4))
    torch.testing.assert_close(x[:, 2:], tokens[:, :4])
    assert pads.tolist() == [[0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]]


def test_sumate_adds_to_the_first_token_embeddings():
    tokens, paddings = _tokens()
    prompts = torch.ones(2, 4)
    x, pads = insert_prompt_embeddings(tokens, paddings, prompts, "sumate")
    torch.testing.assert_close(x[:, :2], tokens[:, :2] + 1)
    torch.testing.assert_close(x[:, 2:], tokens[:, 2:])
    assert torch.equal(pads, paddings)


def test_entire_learnable_is_the_prompts_followed_by_padding():
    tokens, paddings = _tokens()
    prompts = torch.ones(2, 2, 4)  # one set per sentence
    x, pads = insert_prompt_embeddings(tokens, paddings, prompts, "entire_learnable")
    torch.testing.assert_close(x[:, :2], torch.ones(2, 2, 4))
    assert x[:, 2:].abs().sum() == 0
    assert pads.tolist() == [[0, 0, 1, 1, 1, 1]] * 2


def test_unknown_method_is_refused():
    tokens, paddings = _tokens()
    with pytest.raises(ValueError, match="prompt method must be one of concat, sumate, entire_learnable"):
        insert_prompt_embeddings(tokens, paddings, torch.ones(2, 4), "prefix")


def test_zero_sumate_prompts_leave_the_embedding_unchanged(tiny_tips):
    model = tiny_tips("mlp")
    ids, paddings = model.tokenizer(["a bad photo of a bottle."])
    with torch.no_grad():
        plain = model.text(ids, paddings)
        summed = model.text(ids, paddings, prompts=torch.zeros(8, model.text_width), prompt_method="sumate")
    torch.testing.assert_close(plain, summed)


def test_deep_prompts_take_part_in_their_layer_and_are_dropped_after(tiny_tips):
    model = tiny_tips("swiglu")  # three text layers: deep prompts can enter layers 1 and 2
    ids, paddings = model.tokenizer(["a photo of a flawless bottle."])
    deep = [torch.randn(3, model.text_width, requires_grad=True) for _ in range(2)]
    out = model.text(ids, paddings, deep_prompts=deep)
    with torch.no_grad():
        plain = model.text(ids, paddings)
    assert out.shape == plain.shape == (1, model.text_width)
    assert not torch.allclose(out, plain)
    out.sum().backward()
    assert all(d.grad is not None and d.grad.abs().sum() > 0 for d in deep)


def test_deep_prompts_beyond_the_last_layer_are_refused(tiny_tips):
    model = tiny_tips("mlp")  # two text layers
    ids, paddings = model.tokenizer(["a bottle."])
    with pytest.raises(ValueError, match="2 deep prompt layers from layer 1 exceed the 2 layers"):
        model.text(ids, paddings, deep_prompts=[torch.zeros(2, model.text_width)] * 2)
