"""The public torch / torchmetrics behaviour our exact metric states rely on, pinned (see metric_states)."""

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics import Metric

from lightning_modules.metrics import ImageMetrics, PixelMetrics


class _Float64Sum(Metric):
    def __init__(self):
        super().__init__()
        self.add_state("total", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, x):
        self.total += x.sum()

    def compute(self):
        return self.total


def test_a_plain_float64_state_would_be_cast_by_module_to_dtype():
    # Why our states are int64: Lightning's "bf16-true" does module.to(dtype=bfloat16), and
    # torchmetrics casts floating states with it (integer ones are left alone).
    holder = nn.ModuleDict({"plain": _Float64Sum(), "pixel": PixelMetrics()}).to(dtype=torch.bfloat16)
    assert holder["plain"].total.dtype == torch.bfloat16
    assert holder["pixel"].normal_hist.dtype == torch.int64


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_true_half_precision_leaves_results_unchanged(realistic_maps, dtype):
    maps, masks = realistic_maps(4, 64, seed=21)
    scores = torch.linspace(0, 1, 4, dtype=torch.float64) + 1e-9 * torch.arange(4)  # ties in bfloat16
    labels = torch.tensor([0, 1, 0, 1])

    def results(cast):
        metrics = nn.ModuleDict({"image": ImageMetrics(), "pixel": PixelMetrics(), "reference": PixelMetrics(aupro_definition="reference")})
        if cast:
            metrics = metrics.to(dtype=dtype)
        metrics["image"].update(scores, labels)
        metrics["pixel"].update(maps, masks)
        metrics["reference"].update(maps, masks)
        states = [getattr(m, name) for m in metrics.values() for name in m._defaults]
        return {k: m.compute() for k, m in metrics.items()}, states

    cast, states = results(True)
    assert all((s[0] if isinstance(s, list) else s).dtype == torch.int64 for s in states)
    assert cast == results(False)[0]


def test_metrics_built_under_a_bfloat16_default_dtype_work(random_maps):
    # Lightning's bf16-true also builds the module under torch.set_default_dtype(torch.bfloat16).
    maps, masks = random_maps(3, 16, seed=22)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        metric = PixelMetrics()
    finally:
        torch.set_default_dtype(previous)
    metric.update(maps, masks)
    expected = PixelMetrics()
    expected.update(maps, masks)
    assert metric.compute() == expected.compute()


def test_set_dtype_is_refused():
    with pytest.raises(TypeError, match=r"set_dtype\(torch.float32\) would corrupt"):
        ImageMetrics().set_dtype(torch.float32)


def test_forward_merges_states_like_update(realistic_maps):
    # Metric.forward reduces (global, local) states with our callables: float64 sums, min, max as bits.
    maps, masks = realistic_maps(6, 32, seed=23)
    by_forward, by_update = PixelMetrics(aupro_definition="reference"), PixelMetrics(aupro_definition="reference")
    for batch in torch.arange(6).split(2):
        by_forward(maps[batch], masks[batch])
        by_update.update(maps[batch], masks[batch])
    assert by_forward.compute() == by_update.compute()


def test_reset_starts_over(random_maps):
    maps, masks = random_maps(4, 16, seed=24)
    metric = ImageMetrics()
    metric.update(torch.tensor([float("nan"), 0.5]), torch.tensor([0, 1]))
    metric.reset()
    metric.update(torch.tensor([0.1, 0.9, 0.4]), torch.tensor([0, 1, 1]))
    assert metric.compute() == {"auroc": 1.0, "ap": 1.0, "f1_max": 1.0}
    pixel = PixelMetrics(exact=True)
    pixel.update(maps[:2] * float("nan"), masks[:2])
    pixel.reset()
    pixel.update(maps, masks)
    expected = PixelMetrics(exact=True)
    expected.update(maps, masks)
    assert pixel.compute() == expected.compute()


class _EvaluatesMaps(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(1, 1)  # something for bf16-true to cast
        self.pixel = PixelMetrics()
        self.image = ImageMetrics()

    def test_step(self, batch, batch_idx):
        # bf16-true casts floating inputs to bfloat16; integer codes pass untouched, so both runs
        # score the same float32 maps and any difference would come from the metric states.
        map_codes, masks, score_codes, labels = batch
        self.pixel.update(map_codes.float() / 4096, masks)
        self.image.update(score_codes.float() / 4096, labels)

    def on_test_epoch_end(self):
        self.results = {"pixel": self.pixel.compute(), "image": self.image.compute()}


def test_trainer_bf16_true_gives_the_float32_results(realistic_maps):
    maps, masks = realistic_maps(6, 48, seed=25)
    codes = torch.round(maps * 4096).int()
    labels = masks.flatten(1).any(1).long()
    loader = DataLoader(TensorDataset(codes, masks, codes.amax((1, 2)), labels), batch_size=2)
    runs = {}
    for precision in ("32-true", "bf16-true"):
        trainer = L.Trainer(precision=precision, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False)
        with trainer.init_module():
            module = _EvaluatesMaps()
        trainer.test(module, loader, verbose=False)
        runs[precision] = module.results
    assert module.layer.weight.dtype == torch.bfloat16
    assert runs["bf16-true"] == runs["32-true"]
    direct = PixelMetrics()
    direct.update(codes.float() / 4096, masks)
    assert runs["32-true"]["pixel"] == direct.compute()
