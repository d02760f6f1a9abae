"""Learned text features are cached between prompt changes and never served stale."""

import torch

from lightning_modules.tipsomaly import TipsomalyModel


def _learned_model(tiny_tips):
    torch.manual_seed(0)
    model = TipsomalyModel(tiny_tips("mlp"))
    model.prompts_changed()
    return model


def test_in_place_copy_with_invalidation_gives_new_features(tiny_tips):
    model = _learned_model(tiny_tips)
    with torch.no_grad():
        before = model.text_bank.learned().clone()
        model.prompts.normal.data.copy_(torch.randn_like(model.prompts.normal))  # does not bump _version
        model.prompts_changed()
        after = model.text_bank.learned()
        fresh = model.prompts.text_features(model.tips, "industrial")
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after[0], torch.nn.functional.normalize(fresh, dim=-1))


def test_fused_adam_step_then_invalidation_gives_new_features(tiny_tips):
    model = _learned_model(tiny_tips)
    optimizer = torch.optim.Adam(model.prompts.parameters(), lr=0.1, fused=True)
    with torch.no_grad():
        before = model.text_bank.learned().clone()
    loss = model.text_bank.learned().sum()
    loss.backward()
    optimizer.step()
    model.prompts_changed()
    with torch.no_grad():
        after = model.text_bank.learned()
    assert (after - before).abs().max() > 1e-4


def test_features_are_cached_until_invalidated(tiny_tips):
    model = _learned_model(tiny_tips)
    with torch.no_grad():
        first = model.text_bank.learned()
        assert model.text_bank.learned() is first
        model.load_state_dict(model.state_dict())  # loading replaces prompts in place: invalidates
        assert model.text_bank.learned() is not first


def test_one_family_per_image_gives_per_image_features(tiny_tips):
    model = _learned_model(tiny_tips)
    with torch.no_grad():
        mixed = model.text_bank.learned(["industrial", "medical", "industrial"], count=3)
        industrial, medical = model.text_bank.learned("industrial"), model.text_bank.learned("medical")
    assert mixed.shape == (3, 2, 64)
    torch.testing.assert_close(mixed[0], industrial[0])
    torch.testing.assert_close(mixed[1], medical[0])
    fixed = model.text_bank.fixed(["bottle", "brain"], ["industrial", "medical"])
    torch.testing.assert_close(fixed[1], model.text_bank.fixed(["brain"], "medical")[0])
