"""Scoring after the backbone runs in float32 whatever the autocast: bf16 must not quantise the maps."""

import lightning as L
import torch

from lightning_modules import Tipsomaly, TipsSpec
from lightning_modules.tipsomaly.gaussian import gaussian_blur
from lightning_modules.tipsomaly.scorer import AnomalyScorer
from tests.conftest import tiny_files


def _features(seed=0, batch=2, grid=8, width=64):
    g = torch.Generator().manual_seed(seed)
    first, second = torch.randn(batch, width, generator=g), torch.randn(batch, width, generator=g)
    patches = torch.randn(batch, grid * grid, width, generator=g)
    text = torch.randn(1, 2, width, generator=g)
    return first, second, patches, text


def test_scorer_under_bf16_autocast_equals_float32():
    first, second, patches, text = _features()
    scorer = AnomalyScorer(temperature=0.01)
    plain = scorer(first, second, patches, text, text, (112, 112))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = scorer(first, second, patches, text, text, (112, 112))
    assert mixed.anomaly_map.dtype == torch.float32
    torch.testing.assert_close(mixed.anomaly_map, plain.anomaly_map, rtol=0, atol=1e-6)
    torch.testing.assert_close(mixed.pred_score, plain.pred_score, rtol=0, atol=1e-6)
    # a bf16 blur leaves ~200 distinct values on a 112 px map; float32 keeps ~12,500
    assert mixed.anomaly_map[0].unique().numel() > 5000


def test_gaussian_blur_under_autocast_is_float32():
    maps = torch.rand(2, 112, 112)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        blurred = gaussian_blur(maps, sigma=4)
    torch.testing.assert_close(blurred, gaussian_blur(maps, sigma=4), rtol=0, atol=1e-6)


def test_bf16_mixed_trainer_gives_float32_maps_on_the_same_features(tmp_path):
    """The backbone is made to return fixed float32 features, so only the scoring's precision differs."""
    images = torch.rand(2, 3, 56, 56)
    maps = {}
    for precision in ("32-true", "bf16-mixed"):
        module = Tipsomaly(backbone=TipsSpec(**tiny_files("mlp")), feature_cache="off")
        with torch.no_grad():
            features = module.model.tips.encode_image(images)
        module.model.tips.encode_image = lambda x, f=features, **options: tuple(t[: x.shape[0]] for t in f)
        captured = []

        class Capture(L.LightningModule):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def predict_step(self, batch, batch_idx):
                captured.append(self.inner(batch, ["object"] * batch.shape[0]))

        trainer = L.Trainer(accelerator="cpu", precision=precision, logger=False, enable_progress_bar=False, default_root_dir=tmp_path)
        trainer.predict(Capture(module), torch.utils.data.DataLoader(images, batch_size=2))
        maps[precision] = captured[0].anomaly_map
    assert maps["bf16-mixed"].dtype == torch.float32
    torch.testing.assert_close(maps["bf16-mixed"], maps["32-true"], rtol=0, atol=1e-6)
    assert maps["bf16-mixed"][0].unique().numel() > 1000
