"""End to end: the DataModule feeds Tipsomaly for prompt training and zero-shot testing on generated data."""

import lightning as L
import pandas as pd
import pytest
import torch

from datamodules import AnomalyDataModule, make_synthetic_dataset
from lightning_modules import Tipsomaly, TipsSpec
from lightning_modules.callbacks import PromptWriter, ResultsWriter
from lightning_modules.tipsomaly import ENSEMBLES, load_prompt_checkpoint
from tests.conftest import tiny_files
from tests.recomputed_metrics import image_metrics_by_class

IMAGE_SIZE = 56


class EpochLosses(L.Callback):
    def __init__(self):
        self.losses = []

    def on_train_epoch_end(self, trainer, module):
        self.losses.append(float(trainer.callback_metrics["train/loss_epoch"]))


def _data(tmp_path, test_sets=None, **options):
    train_root = make_synthetic_dataset(tmp_path / "train_set", n_normal=3, n_anomalous=5, seed=1)
    test_root = make_synthetic_dataset(tmp_path / "test_set", n_normal=3, n_anomalous=3, seed=2)
    return AnomalyDataModule(
        train_sets=[{"name": "synthetic_train", "format": "mvtec", "root": str(train_root)}],
        test_sets=test_sets or [{"name": "synthetic_test", "format": "mvtec", "root": str(test_root)}],
        image_size=IMAGE_SIZE,
        batch_size=4,
        num_workers=0,
        **options,
    )


def _trainer(tmp_path, epochs=1, callbacks=(), **options):
    settings = dict(
        max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path, callbacks=list(callbacks),
    )  # fmt: skip
    return L.Trainer(**(settings | options))


def _module(**options):
    torch.manual_seed(0)
    return Tipsomaly(backbone=TipsSpec(**tiny_files("mlp")), **options)


def test_fit_lowers_the_loss_and_changes_only_the_prompts(tmp_path):
    module = _module(image_size=IMAGE_SIZE, lr=1e-2)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    losses = EpochLosses()
    _trainer(tmp_path, 4, [losses, PromptWriter(tmp_path / "run")]).fit(module, datamodule=_data(tmp_path))

    assert losses.losses[-1] < losses.losses[0]
    after = module.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"model.prompts.normal", "model.prompts.abnormal", "model.prompts_learned"}
    saved = sorted((tmp_path / "run" / "prompts").glob("*.pt"))
    assert [p.name for p in saved] == [f"learnable_prompts_epoch{e}.pt" for e in range(1, 5)]
    last = load_prompt_checkpoint(saved[-1], expected_width=64)
    torch.testing.assert_close(last.normal, module.model.prompts.normal.detach())
    assert last.settings["prompt_method"] == "concat" and last.settings["epoch"] == 4
    assert last.settings["image_size"] == IMAGE_SIZE
    # the frozen-feature cache served every epoch after the first, and was freed when training ended
    cache = module.model.feature_cache
    assert cache.misses == 16 and cache.hits == 3 * 16 and cache.bytes == 0


def test_a_second_fit_into_the_same_folder_is_refused_before_training(tmp_path):
    _trainer(tmp_path, 1, [PromptWriter(tmp_path / "run")]).fit(_module(), datamodule=_data(tmp_path))
    module = _module()
    with pytest.raises(FileExistsError, match=r"learnable_prompts_epoch1.pt exists .* pass --overwrite true"):
        _trainer(tmp_path, 1, [PromptWriter(tmp_path / "run")]).fit(module, datamodule=_data(tmp_path))
    assert not module.model.uses_learned_prompts  # refused before the first step


def test_test_writes_results_per_class_before_logging(tmp_path):
    module = _module(image_size=IMAGE_SIZE)
    _trainer(tmp_path, callbacks=[ResultsWriter(tmp_path / "run")]).test(module, datamodule=_data(tmp_path))

    table = pd.read_csv(tmp_path / "run" / "test_results.csv")
    assert list(table["class"]) == ["grid_texture", "round_object", "mean", "mean"]
    assert list(table["dataset"]) == ["synthetic_test"] * 3 + ["mean"]
    data = _data(tmp_path)
    data.setup("test")
    expected = image_metrics_by_class(module, data.test_datasets[0])  # sklearn on the model's own scores
    for row in table[table["class"] != "mean"].to_dict("records"):
        assert row["image_auroc"] == pytest.approx(expected[row["class"]]["image_auroc"], abs=1e-6)
        assert row["image_ap"] == pytest.approx(expected[row["class"]]["image_ap"], abs=1e-6)
    assert table[(table["class"] == "mean") & (table["dataset"] == "synthetic_test")]["image_auroc"].iloc[0] == pytest.approx(
        (expected["grid_texture"]["image_auroc"] + expected["round_object"]["image_auroc"]) / 2, abs=1e-6
    )
    assert table[["pixel_auroc", "pixel_aupro", "pixel_f1_max"]].notna().all().all()
    assert (tmp_path / "run" / "test_results.md").read_text().startswith("| dataset | class |")
    numeric = [c for c in table.columns if c.startswith(("image_", "pixel_"))]
    pd.testing.assert_frame_equal(module.test_results[numeric].reset_index(drop=True), table[numeric], atol=1e-9)
    with pytest.raises(FileExistsError, match="test_results.csv exists and would be overwritten"):
        _trainer(tmp_path, callbacks=[ResultsWriter(tmp_path / "run")]).test(module, datamodule=_data(tmp_path))


def test_two_classes_with_the_same_prompt_words_keep_their_own_rows(tmp_path):
    root = make_synthetic_dataset(tmp_path / "same_words", n_normal=2, n_anomalous=2, seed=3)
    spec = {"name": "same", "format": "mvtec", "root": str(root), "class_names": {"grid_texture": "part", "round_object": "part"}}
    module = _module()
    _trainer(tmp_path).test(module, datamodule=_data(tmp_path, test_sets=[spec]))
    assert list(module.test_results["class"]) == ["grid_texture", "round_object", "mean", "mean"]


def test_dataloaders_give_the_same_table_as_the_datamodule_medical_image_only_set_included(tmp_path):
    root = make_synthetic_dataset(tmp_path / "scans", n_normal=2, n_anomalous=3, seed=4)
    medical = {"name": "scans", "format": "mvtec", "root": str(root), "fixed_prompts": "medical", "levels": "image"}
    data = _data(tmp_path, test_sets=[medical])
    via_datamodule, via_loaders = _module(), _module()
    _trainer(tmp_path).test(via_datamodule, datamodule=data)
    data.setup("test")
    _trainer(tmp_path).test(via_loaders, dataloaders=data.test_dataloader())
    pd.testing.assert_frame_equal(via_datamodule.test_results, via_loaders.test_results)
    assert "pixel_auroc" not in via_loaders.test_results.columns  # an image-only set stays image-only
    # and the medical prompts scored it, on both paths
    for module in (via_datamodule, via_loaders):
        assert list(module.model.text_bank._fixed) == [ENSEMBLES["medical"]]


def test_fit_with_validation_scores_with_the_current_prompts(tmp_path):
    module = _module(lr=5e-2)
    data = _data(tmp_path, val_sets=[{"name": "synthetic_val", "format": "mvtec", "root": str(tmp_path / "test_set")}])
    _trainer(tmp_path, 2, [ResultsWriter(tmp_path / "run")]).fit(module, datamodule=data)
    with torch.no_grad():
        cached = module.model.text_bank.learned()
        fresh = torch.nn.functional.normalize(module.model.prompts.text_features(module.model.tips, "industrial"), dim=-1)
    torch.testing.assert_close(cached[0], fresh)
    assert sorted(p.name for p in (tmp_path / "run").glob("val_results_epoch*.csv")) == ["val_results_epoch1.csv", "val_results_epoch2.csv"]


def test_bf16_mixed_fit_checkpoint_loads_weights_only_without_its_start_prompt_file(tmp_path):
    start = tmp_path / "start"
    _trainer(tmp_path, 1, [PromptWriter(start)]).fit(_module(), datamodule=_data(tmp_path))
    prompt_file = start / "prompts" / "learnable_prompts_epoch1.pt"
    module = _module(prompt_checkpoint=str(prompt_file), lr=5e-2)
    trainer = _trainer(tmp_path / "second", 1, precision="bf16-mixed", enable_checkpointing=True)
    trainer.fit(module, datamodule=_data(tmp_path))
    (checkpoint,) = (tmp_path / "second").rglob("*.ckpt")
    assert checkpoint.stat().st_size < 100_000  # the prompts, not the backbone
    prompt_file.unlink()  # the learned prompts are in the checkpoint; the start file is not needed
    restored = Tipsomaly.load_from_checkpoint(checkpoint, weights_only=True)
    torch.testing.assert_close(restored.model.prompts.normal, module.model.prompts.normal)
    assert restored.model.uses_learned_prompts
    # on values: the restored module scores like the trained one
    images = torch.rand(2, 3, IMAGE_SIZE, IMAGE_SIZE)
    with torch.no_grad():
        torch.testing.assert_close(restored(images, ["part", "part"]).anomaly_map, module(images, ["part", "part"]).anomaly_map)



def test_a_failing_set_is_reported_and_the_other_results_are_kept(tmp_path):
    good = {"name": "good", "format": "mvtec", "root": str(make_synthetic_dataset(tmp_path / "good", n_normal=2, n_anomalous=2))}
    bad = {"name": "bad", "format": "mvtec", "root": str(make_synthetic_dataset(tmp_path / "bad", n_normal=2, n_anomalous=2, seed=5))}
    module = _module()
    score = module._score

    def nan_maps_for_bad(batch, *args):
        out = score(batch, *args)
        if batch.dataset_name[0] == "bad":
            out.anomaly_map[:, 0, 0] = float("nan")
        return out

    module._score = nan_maps_for_bad
    with pytest.raises(RuntimeError, match=r"test metrics failed for bad/grid_texture, bad/round_object .*NaN.*the other results were kept"):
        _trainer(tmp_path, callbacks=[ResultsWriter(tmp_path / "run")]).test(module, datamodule=_data(tmp_path, test_sets=[good, bad]))
    table = pd.read_csv(tmp_path / "run" / "test_results.csv")
    good_rows = table[table["dataset"] == "good"]
    assert good_rows["pixel_auroc"].notna().all() and table[table["dataset"] == "bad"]["pixel_auroc"].isna().all()


def test_results_go_to_a_fallback_folder_when_writing_fails(tmp_path, monkeypatch):
    from lightning_modules.callbacks import results_writer

    real = results_writer.write_results
    calls = []

    def fail_first(table, stem):
        calls.append(stem)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real(table, stem)

    monkeypatch.setattr(results_writer, "write_results", fail_first)
    writer = ResultsWriter(tmp_path / "run")
    with pytest.warns(UserWarning, match=r"could not write results to .*No space left on device.*; they are in "):
        _trainer(tmp_path, callbacks=[writer]).test(_module(), datamodule=_data(tmp_path))
    assert writer.written and writer.written[0].is_file() and not str(writer.written[0]).startswith(str(tmp_path / "run"))


def test_without_a_logger_or_folder_results_go_to_a_new_run_folder(tmp_path):
    for _ in range(2):
        _trainer(tmp_path, callbacks=[ResultsWriter()]).test(_module(), datamodule=_data(tmp_path))
    runs = sorted((tmp_path / "tipsomaly_runs").glob("*/test_results.csv"))
    assert len(runs) == 2  # never the working directory, never overwritten


def test_a_set_with_only_normal_images_is_named_in_the_means(tmp_path):
    good = {"name": "good", "format": "mvtec", "root": str(make_synthetic_dataset(tmp_path / "good", n_normal=2, n_anomalous=2))}
    normal = {"name": "normal_only", "format": "mvtec", "root": str(make_synthetic_dataset(tmp_path / "normal", n_normal=2, n_anomalous=0))}
    module = _module()
    _trainer(tmp_path, callbacks=[ResultsWriter(tmp_path / "run")]).test(module, datamodule=_data(tmp_path, test_sets=[good, normal]))
    overall = module.test_results.iloc[-1]
    assert "mean of 1 of 2 sets" in overall["coverage"] and "normal_only: no anomalous images" in overall["coverage"]
    assert "normal_only: no anomalous images" in (tmp_path / "run" / "test_results.md").read_text()
