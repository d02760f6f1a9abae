"""Few-shot mode end to end: Trainer.test on synthetic data with the tiny random TIPS model of tests/data/tips."""

import json

import lightning as L
import pytest
import torch

from datamodules import AnomalyDataModule, make_synthetic_dataset
from lightning_modules import Tipsomaly, TipsSpec
from lightning_modules.callbacks.prediction_writer import PredictionWriter
from tests.conftest import tiny_files

SIZE = 112  # an 8 x 8 patch grid with the tiny model's 14 px patches


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return str(make_synthetic_dataset(tmp_path_factory.mktemp("syn"), n_normal=6, n_anomalous=6, image_size=64, seed=2))


class Maps(L.Callback):
    def __init__(self):
        self.maps, self.scores = [], []

    def on_test_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0):
        self.maps.append(outputs.anomaly_map.clone())
        self.scores.append(outputs.pred_score.clone())


def _test(root, few_shot=None, folder=None, **options):
    data = AnomalyDataModule(test_sets=[{"name": "syn", "format": "mvtec", "root": root}], image_size=SIZE,
                             batch_size=4, num_workers=0, few_shot=few_shot)
    torch.manual_seed(0)
    module = Tipsomaly(backbone=TipsSpec(**tiny_files("mlp")), prompt_method="none", image_size=SIZE, **{"feature_cache": "off", **options})
    maps = Maps()
    callbacks = [maps] + ([PredictionWriter(str(folder), overlays_per_class=0)] if folder else [])
    L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False, callbacks=callbacks).test(module, datamodule=data, verbose=False)
    mean = module.test_results.set_index(["dataset", "class"]).loc[("mean", "mean")]
    return module, mean, torch.cat(maps.maps), torch.cat(maps.scores)


def test_few_shot_k4_localises_the_synthetic_defects_clearly_better_than_zero_shot(root):
    _, zero, zero_maps, _ = _test(root)
    _, few_only, _, _ = _test(root, {"k": 4, "seed": 0}, few_shot_only=True)
    _, combined, combined_maps, _ = _test(root, {"k": 4, "seed": 0})
    # measured: pixel AUROC 52.7 zero-shot, 79.9 few-shot map alone, 56.2 combined at weight 0.5 (random weights:
    # the zero-shot map spans a wider range than the cosine distances, so it dominates an equal-weight sum)
    assert few_only["pixel_auroc"] >= zero["pixel_auroc"] + 20
    assert few_only["pixel_aupro"] >= zero["pixel_aupro"] + 20  # measured 27.1 -> 61.0
    assert combined["pixel_auroc"] >= zero["pixel_auroc"] + 2
    assert not torch.equal(combined_maps, zero_maps)


def test_the_seed_reproduces_the_run_exactly_and_the_folder_records_the_references(root, tmp_path):
    module, first, maps, scores = _test(root, {"k": 4, "seed": 1}, folder=tmp_path / "a")
    _, again, maps_again, scores_again = _test(root, {"k": 4, "seed": 1}, folder=tmp_path / "b")
    assert torch.equal(maps, maps_again) and torch.equal(scores, scores_again) and first.equals(again)
    record = json.loads((tmp_path / "a" / "few_shot_references.json").read_text())
    assert record == json.loads((tmp_path / "b" / "few_shot_references.json").read_text())
    assert record["syn"]["k"] == 4 and record["syn"]["seed"] == 1 and sorted(record["syn"]["classes"]) == ["grid_texture", "round_object"]
    for class_name, entry in record["syn"]["classes"].items():
        assert entry["source"] == "train" and len(entry["images"]) == 4
        assert all(f"/{class_name}/train/good/" in path for path in entry["images"])
    assert module.few_shot.describe() == {"k": 4, "seed": 1, "weight": 0.5, "only": False, "rotations": False}
    _, other, other_maps, _ = _test(root, {"k": 4, "seed": 2})
    assert not torch.equal(other_maps, maps)  # another seed, other references


def test_rotations_add_three_turns_of_every_reference_to_the_bank(root):
    plain, _, _, _ = _test(root, {"k": 2, "seed": 0})
    turned, _, _, _ = _test(root, {"k": 2, "seed": 0}, few_shot_rotations=True)
    assert turned.few_shot.banks.shape[1] == 4 * plain.few_shot.banks.shape[1] == 4 * 2 * (SIZE // 14) ** 2


def test_references_from_test_normals_leave_the_evaluation_and_the_coverage_says_so(tmp_path):
    root = make_synthetic_dataset(tmp_path / "d", classes=("grid_texture",), n_normal=4, n_anomalous=3, image_size=32)
    for image in (root / "grid_texture" / "train" / "good").iterdir():
        image.unlink()
    (root / "grid_texture" / "train" / "good").rmdir()
    (root / "grid_texture" / "train").rmdir()
    data = AnomalyDataModule(test_sets=[{"name": "syn", "format": "mvtec", "root": str(root), "few_shot": {"k": 2}}],
                             image_size=28, batch_size=4, num_workers=0)
    module = Tipsomaly(backbone=TipsSpec(**tiny_files("mlp")), prompt_method="none", image_size=28, feature_cache="off")
    L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False).test(module, datamodule=data, verbose=False)
    table = module.test_results.set_index(["dataset", "class"])
    assert "references from the normal test images, left out of the evaluation (grid_texture)" in table.loc[("syn", "mean"), "coverage"]
    assert module.few_shot.settings["syn"]["source"] == {"grid_texture": "test"}


def test_predict_builds_the_banks_too_and_records_them(root, tmp_path):
    data = AnomalyDataModule(predict_sets=[{"name": "syn", "format": "mvtec", "root": root, "few_shot": {"k": 2, "seed": 0}}],
                             image_size=56, batch_size=4, num_workers=0)
    module = Tipsomaly(backbone=TipsSpec(**tiny_files("mlp")), prompt_method="none", image_size=56, feature_cache="off", few_shot_only=True)
    L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
              callbacks=[PredictionWriter(str(tmp_path), overlays_per_class=0)]).predict(module, datamodule=data, return_predictions=False)
    assert module.few_shot.active and sorted(module.few_shot.references["syn"]) == ["grid_texture", "round_object"]
    record = json.loads((tmp_path / "few_shot_references.json").read_text())
    assert {len(c["images"]) for c in record["syn"]["classes"].values()} == {2}
    assert (tmp_path / "predictions.csv").is_file()


def test_reference_features_go_through_the_disk_feature_cache(root, tmp_path):
    cache = tmp_path / "features"
    first, mean, maps, _ = _test(root, {"k": 3, "seed": 0}, feature_cache="disk", feature_cache_dir=str(cache))
    entries = len(list(cache.glob("*.pt")))
    assert entries == 2 * 12 + 2 * 3  # the test images and every class's 3 train/good references
    _, again, maps_again, _ = _test(root, {"k": 3, "seed": 0}, feature_cache="disk", feature_cache_dir=str(cache))
    assert len(list(cache.glob("*.pt"))) == entries and torch.equal(maps, maps_again)


def test_under_bf16_mixed_the_bank_is_encoded_like_the_test_images(tmp_path):
    import shutil

    root = make_synthetic_dataset(tmp_path / "d", classes=("round_object",), n_normal=2, n_anomalous=1, image_size=32)
    for path in (root / "round_object" / "train" / "good").glob("*.png"):  # the references are also test images here
        shutil.copy(path, root / "round_object" / "test" / "good" / f"copy_{path.name}")
    data = AnomalyDataModule(predict_sets=[{"name": "s", "format": "mvtec", "root": str(root), "few_shot": {"k": 2}}],
                             image_size=56, batch_size=8, num_workers=0)
    module = Tipsomaly(backbone=TipsSpec(**tiny_files("mlp")), prompt_method="none", image_size=56, feature_cache="off", few_shot_only=True)
    outputs = L.Trainer(accelerator="cpu", devices=1, precision="bf16-mixed", logger=False, enable_progress_bar=False,
                        enable_model_summary=False).predict(module, datamodule=data)
    out = outputs[0]
    copies = [i for i, path in enumerate(out.image_path) if "copy_" in path]
    assert len(copies) == 2 and out.anomaly_map.dtype == torch.float32
    assert out.anomaly_map[copies].abs().max() <= 1e-6  # same bf16 features as the bank: distance 0
    others = [i for i in range(len(out.image_path)) if i not in copies]
    assert out.anomaly_map[others].amax() > 1e-3
