"""End to end: the DataModule feeds Tipsomaly for prompt training and zero-shot testing on generated data."""

import lightning as L
import pandas as pd
import torch

from datamodules import AnomalyDataModule, make_synthetic_dataset
from lightning_modules import Tipsomaly, TipsSpec
from lightning_modules.tipsomaly import load_prompt_checkpoint
from tests.conftest import tiny_files

IMAGE_SIZE = 56


class EpochLosses(L.Callback):
    def __init__(self):
        self.losses = []

    def on_train_epoch_end(self, trainer, module):
        self.losses.append(float(trainer.callback_metrics["train/loss_epoch"]))


def _data(tmp_path, **options):
    train_root = make_synthetic_dataset(tmp_path / "train_set", n_normal=3, n_anomalous=5, seed=1)
    test_root = make_synthetic_dataset(tmp_path / "test_set", n_normal=3, n_anomalous=3, seed=2)
    return AnomalyDataModule(
        train_sets=[{"name": "synthetic_train", "format": "mvtec", "root": str(train_root)}],
        test_sets=[{"name": "synthetic_test", "format": "mvtec", "root": str(test_root)}],
        image_size=IMAGE_SIZE,
        batch_size=4,
        num_workers=0,
        **options,
    )


def _trainer(tmp_path, epochs, callbacks=()):
    return L.Trainer(
        max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path, callbacks=list(callbacks),
    )


def test_fit_lowers_the_loss_and_changes_only_the_prompts(tmp_path):
    torch.manual_seed(0)
    module = Tipsomaly(backbone=TipsSpec(**tiny_files("mlp")), image_size=IMAGE_SIZE, lr=1e-2, results_dir=str(tmp_path / "run"))
    before = {k: v.clone() for k, v in module.state_dict().items()}
    losses = EpochLosses()
    _trainer(tmp_path, epochs=4, callbacks=[losses]).fit(module, datamodule=_data(tmp_path))

    assert losses.losses[-1] < losses.losses[0]
    after = module.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"model.prompts.normal", "model.prompts.abnormal", "model.prompts_learned"}
    saved = sorted((tmp_path / "run" / "prompts").glob("*.pt"))
    assert [p.name for p in saved] == [f"learnable_prompts_epoch{e}.pt" for e in range(1, 5)]
    last = load_prompt_checkpoint(saved[-1], expected_width=64)
    torch.testing.assert_close(last.normal, module.model.prompts.normal.detach())
    assert last.settings["prompt_method"] == "concat" and last.settings["epoch"] == 4
    # the frozen-feature cache served every epoch after the first
    cache = module.model.feature_cache
    assert cache.misses == 16 and cache.hits == 3 * 16


def test_test_writes_results_per_class_before_logging(tmp_path):
    module = Tipsomaly(backbone=TipsSpec(**tiny_files("mlp")), image_size=IMAGE_SIZE, results_dir=str(tmp_path / "run"))
    _trainer(tmp_path, epochs=1).test(module, datamodule=_data(tmp_path))

    table = pd.read_csv(tmp_path / "run" / "test_results.csv")
    assert list(table["class"]) == ["grid texture", "round object", "mean", "mean"]
    assert list(table["dataset"]) == ["synthetic_test"] * 3 + ["mean"]
    for column in ("image_auroc", "image_ap", "image_f1_max", "pixel_auroc", "pixel_aupro", "pixel_f1_max"):
        assert table[column].between(0, 100).all()
    assert (tmp_path / "run" / "test_results.md").read_text().startswith("| dataset | class |")
    assert module.test_results is not None


def test_bf16_mixed_fit_writes_a_small_checkpoint_that_loads_weights_only(tmp_path):
    module = Tipsomaly(backbone=TipsSpec(**tiny_files("mlp")), image_size=IMAGE_SIZE, results_dir=str(tmp_path / "run"))
    trainer = L.Trainer(
        max_epochs=1, accelerator="cpu", precision="bf16-mixed", logger=False, default_root_dir=tmp_path,
        enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(module, datamodule=_data(tmp_path))
    (checkpoint,) = tmp_path.rglob("*.ckpt")
    assert checkpoint.stat().st_size < 100_000  # the prompts, not the backbone
    restored = Tipsomaly.load_from_checkpoint(checkpoint, weights_only=True)
    torch.testing.assert_close(restored.model.prompts.normal, module.model.prompts.normal)
    assert restored.model.uses_learned_prompts
