"""Text batches run in groups of similar length, each cut to its longest sentence after the prompts are placed:
the same features (and prompt gradients) as the full 64-token computation, at a fraction of the work."""

import itertools
import random

import pytest
import torch

from lightning_modules.tips import PROMPT_METHODS, text_tower
from lightning_modules.tips.text_tower import fewest_token_split, kept_length_of, length_groups

EXACT = 1e-6  # the bound
SENTENCES = ["a photo of a flawless bottle.", "a bad photo of the damaged metal nut with a crack.", "broken"]
LONG = " ".join(["scratch"] * 80)  # more than 64 tokens: cut to 64 by the tokenizer, as always


@pytest.fixture
def full_length(monkeypatch):
    """Run a callable as before the cut: every batch kept at its full 64 tokens."""

    def run(fn):
        with monkeypatch.context() as patch:
            patch.setattr(text_tower, "kept_length_of", lambda paddings: paddings.shape[1])
            patch.setattr(text_tower.TipsTextTower, "_remembered_groups",
                          lambda self, paddings, placed, key: ((torch.arange(len(placed)), placed.shape[1]),))
            return fn()

    return run


def _lengths_seen(model, shapes=False):
    """The sequence lengths (or [sentences, length]) the text transformer is run at, recorded by a forward hook."""
    seen = []
    record = (lambda x: tuple(x.shape[:2])) if shapes else (lambda x: x.shape[1])
    handle = model.text.transformer.register_forward_hook(lambda module, args, out: seen.append(record(args[0])))
    return seen, handle


def test_kept_length_is_the_longest_sentence():
    paddings = torch.tensor([[0, 0, 1, 1, 1], [0, 0, 0, 1, 1]])
    assert kept_length_of(paddings) == 3
    assert kept_length_of(torch.ones(2, 5, dtype=torch.long)) == 1  # all padding: one position, as empty sentences


def test_fixed_prompt_features_equal_the_full_length_ones(tiny_tips, full_length):
    model = tiny_tips("mlp")
    seen, handle = _lengths_seen(model)
    with torch.no_grad():
        cut = model.encode_text(SENTENCES)
        full = model.text(*model.tokenizer(SENTENCES), kept_length=64)
    handle.remove()
    paddings = model.tokenizer(SENTENCES)[1]
    longest = int((paddings == 0).sum(1).max())
    assert seen == [n for _, n in length_groups(paddings)] + [64] and len(seen) == 3 and seen[-2] == longest < 20
    torch.testing.assert_close(cut, full, rtol=0, atol=EXACT)


@pytest.fixture(scope="module")
def swiglu_float64():
    from lightning_modules.tips import load_tips
    from tests.conftest import tiny_files

    return load_tips(**tiny_files("swiglu"), dtype=torch.float64)


# float32 features within the 1e-6; gradients sum rounding differently over 64 or fewer positions
# (float32: up to ~1e-5 of values ~0.2), so the math is shown identical in float64
@pytest.mark.parametrize("method", PROMPT_METHODS)
@pytest.mark.parametrize("per_sentence", [False, True])
@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float32, EXACT), (torch.float64, 1e-12)])
def test_learned_prompt_features_and_gradients_equal_the_full_length_ones(
    tiny_tips, swiglu_float64, full_length, method, per_sentence, dtype, tolerance
):
    model = tiny_tips("swiglu") if dtype == torch.float32 else swiglu_float64  # three text layers: deep prompts in 1, 2
    ids, paddings = model.tokenizer(SENTENCES + [LONG])
    generator = torch.Generator().manual_seed(0)
    shape = (len(ids), 5, model.text_width) if per_sentence else (5, model.text_width)
    prompts = torch.randn(*shape, generator=generator, dtype=dtype).requires_grad_()
    deep = [torch.randn(3, model.text_width, generator=generator, dtype=dtype).requires_grad_() for _ in range(2)]

    def features_and_grads():
        out = model.text(ids, paddings, prompts=prompts, prompt_method=method, deep_prompts=deep)
        grads = torch.autograd.grad(out.square().sum(), [prompts, *deep])
        return out.detach(), grads

    seen, handle = _lengths_seen(model)
    cut, cut_grads = features_and_grads()
    full, full_grads = full_length(features_and_grads)
    handle.remove()
    torch.testing.assert_close(cut, full, rtol=0, atol=tolerance)
    if dtype == torch.float64:
        for a, b in zip(cut_grads, full_grads):
            torch.testing.assert_close(a, b, rtol=0, atol=tolerance)
    # the > 64-token sentence's group keeps 64 tokens, cut exactly as before (entire_learnable keeps the prompts);
    # the other sentences ran in groups of their own lengths
    assert max(seen[:-1]) == (5 if method == "entire_learnable" else 64) and seen[-1] == 64
    assert len(seen) - 1 >= (1 if method == "entire_learnable" else 3)


@pytest.mark.parametrize(("method", "expected"), [("concat", "prompts + longest"), ("sumate", "longest"), ("entire_learnable", "prompts")])
def test_short_batches_run_at_their_own_length(tiny_tips, full_length, method, expected):
    model = tiny_tips("swiglu")
    ids, paddings = model.tokenizer(SENTENCES)
    longest = int((paddings == 0).sum(1).max())
    prompts = torch.randn(4, model.text_width)
    deep = [torch.randn(2, model.text_width)]
    seen, handle = _lengths_seen(model)
    with torch.no_grad():
        cut = model.text(ids, paddings, prompts=prompts, prompt_method=method, deep_prompts=deep)
        full = full_length(lambda: model.text(ids, paddings, prompts=prompts, prompt_method=method, deep_prompts=deep))
    handle.remove()
    assert max(seen[:-1]) == {"prompts + longest": 4 + longest, "longest": longest, "prompts": 4}[expected]
    torch.testing.assert_close(cut, full, rtol=0, atol=EXACT)


def test_the_tipsomaly_learned_prompts_train_on_the_cut_batches(tiny_tips, full_length):
    from lightning_modules.tipsomaly.learnable_prompts import LearnablePrompts

    model = tiny_tips("swiglu")
    torch.manual_seed(0)
    prompts = LearnablePrompts(model.text_width, n_prompt=4, method="concat", n_deep=2, d_deep=2)

    def step():
        prompts.zero_grad()
        features = prompts.text_features(model, "industrial")
        features.square().sum().backward()
        return features.detach(), [p.grad.clone() for p in prompts.parameters()]

    seen, handle = _lengths_seen(model)
    cut, cut_grads = step()
    cut_seen = list(seen)
    seen.clear()
    full, full_grads = full_length(step)
    handle.remove()
    assert max(cut_seen) < 40 and len(cut_seen) > 2 and set(seen) == {64}
    torch.testing.assert_close(cut, full, rtol=0, atol=EXACT)
    for a, b in zip(cut_grads, full_grads):
        torch.testing.assert_close(a, b, rtol=0, atol=EXACT)


def test_the_length_groups_are_counted_once_per_token_tensor(tiny_tips, monkeypatch):
    model = tiny_tips("mlp")
    ids, paddings = model.tokenizer(SENTENCES)
    counted = []
    real = text_tower.length_groups
    monkeypatch.setattr(text_tower, "length_groups", lambda p: counted.append(1) or real(p))
    prompts = torch.zeros(2, model.text_width)
    with torch.no_grad():
        first = model.text(ids, paddings, prompts=prompts, prompt_method="concat")
        model.text(ids, paddings, prompts=prompts, prompt_method="concat")  # the same tensor: remembered
        assert len(counted) == 1
        model.text(ids, paddings, prompts=torch.zeros(5, model.text_width), prompt_method="concat")  # other prompts
        assert len(counted) == 2
        paddings[0, 1:] = 1  # an in-place change is seen through the version counter
        changed = model.text(ids, paddings, prompts=prompts, prompt_method="concat")
    assert len(counted) == 3 and not torch.allclose(first[0], changed[0])


def test_token_tensors_made_in_inference_mode_are_cut_too(tiny_tips):
    model = tiny_tips("mlp")
    with torch.inference_mode():
        ids, paddings = model.tokenizer(SENTENCES)  # inference tensors: no version counter to remember by
        seen, handle = _lengths_seen(model)
        cut = model.text(ids, paddings, prompts=torch.zeros(3, model.text_width), prompt_method="concat")
        full = model.text(ids, paddings, prompts=torch.zeros(3, model.text_width), prompt_method="concat", kept_length=64)
        handle.remove()
    assert max(seen[:-1]) == 3 + int((paddings == 0).sum(1).max()) and seen[-1] == 64
    torch.testing.assert_close(cut, full, rtol=0, atol=EXACT)


def _brute_force_split(lengths, max_groups):
    """(tokens, runs) of every split of the sorted lengths into at most max_groups runs: the fewest, then fewer runs."""
    options = []
    for runs in range(1, min(max_groups, len(lengths)) + 1):
        for cuts in itertools.combinations(range(1, len(lengths)), runs - 1):
            ends = [*cuts, len(lengths)]
            starts = [0, *cuts]
            options.append((sum((end - start) * lengths[end - 1] for start, end in zip(starts, ends)), runs, ends))
    return min(options)


def test_the_split_runs_the_fewest_tokens_and_prefers_fewer_groups():
    rng = random.Random(0)
    for _ in range(300):
        lengths = sorted(rng.randint(1, 40) for _ in range(rng.randint(1, 9)))
        max_groups = rng.randint(1, 5)
        ends = fewest_token_split(lengths, max_groups)
        tokens, runs, _ = _brute_force_split(lengths, max_groups)
        assert sum((end - start) * lengths[end - 1] for start, end in zip([0, *ends[:-1]], ends)) == tokens
        assert len(ends) == runs and ends[-1] == len(lengths)
    assert fewest_token_split([], 4) == [] and fewest_token_split([7, 7, 7], 4) == [3]


def test_every_sentence_is_in_one_group_at_a_length_that_holds_it():
    paddings = torch.ones(9, 30, dtype=torch.long)
    lengths = [3, 25, 4, 12, 25, 3, 1, 13, 30]
    for row, n in enumerate(lengths):
        paddings[row, :n] = 0
    groups = length_groups(paddings)
    rows = torch.cat([r for r, _ in groups]).tolist()
    assert sorted(rows) == list(range(9)) and len(groups) <= text_tower.MAX_LENGTH_GROUPS
    for group_rows, length in groups:
        assert length == max(lengths[row] for row in group_rows.tolist())


def test_the_industrial_ensemble_runs_far_fewer_tokens_than_one_cut_to_the_longest(tiny_tips):
    from lightning_modules.tipsomaly.learnable_prompts import LearnablePrompts

    model = tiny_tips("mlp")
    prompts = LearnablePrompts(model.text_width, n_prompt=8, method="concat")
    seen, handle = _lengths_seen(model, shapes=True)
    with torch.no_grad():
        prompts.text_features(model, "industrial")
    handle.remove()
    tokens = sum(count * length for count, length in seen)
    one_cut = sum(count for count, _ in seen) * max(length for _, length in seen)
    assert tokens < 0.8 * one_cut, seen


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_learned_prompt_steps_after_the_first_do_not_wait_for_the_gpu():
    from lightning_modules.tips import load_tips
    from tests.conftest import tiny_files

    model = load_tips(**tiny_files("swiglu"), device="cuda")
    ids, paddings = (t.cuda() for t in model.tokenizer(SENTENCES))
    prompts = torch.randn(4, model.text_width, device="cuda", requires_grad=True)
    model.text(ids, paddings, prompts=prompts, prompt_method="concat").sum().backward()  # counts the length once
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        model.text(ids, paddings, prompts=prompts, prompt_method="concat").sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
