"""On a CPU the image tower runs a batch a few images at a time (cache-sized chunks): the same outputs."""

import torch

from lightning_modules.tips import tips_model
from lightning_modules.tips.tips_model import cpu_chunk_size


def test_the_chunk_holds_about_the_token_budget_and_a_gpu_batch_is_whole():
    assert cpu_chunk_size(torch.empty(8, 3, 518, 518), 14) == 2  # 1371 tokens per image
    assert cpu_chunk_size(torch.empty(16, 3, 224, 224), 14) == 10
    assert cpu_chunk_size(torch.empty(4, 3, 1022, 1022), 14) == 1  # never fewer than one image
    assert cpu_chunk_size(torch.empty(8, 3, 518, 518, device="meta"), 14) == 8


def test_chunked_batches_give_the_outputs_of_one_call(tiny_tips, monkeypatch):
    model = tiny_tips("swiglu")
    images = torch.rand(5, 3, 56, 56, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        whole = model.vision(images)
        calls = []
        handle = model.vision.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
        monkeypatch.setattr(tips_model, "CPU_TOKENS_PER_CHUNK", 2 * (4 * 4 + 2))  # two 56 px images per chunk
        chunked = model.encode_image(images)
        handle.remove()
    assert calls == [2, 2, 1]
    for a, b in zip(chunked, whole):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
