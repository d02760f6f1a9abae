"""AnomalyDataModule with Lightning's Trainer: fit on one dataset's labelled test split, test on others."""

from __future__ import annotations

from collections import defaultdict

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import RandomSampler, SequentialSampler

from datamodules import AnomalyDataModule, Batch, DatasetSpec, make_synthetic_dataset


class PixelProbe(L.LightningModule):
    """Stands in for the Tipsomaly model: one learnable bias scores pixels; records what every step saw."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(1))
        self.seen: dict[str, list] = defaultdict(list)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        assert isinstance(batch, Batch) and batch.image.shape[1:] == (3, 32, 32)
        self.seen["train"] += [(self.current_epoch, index) for index in batch.index.tolist()]
        loss = F.binary_cross_entropy_with_logits(batch.image.mean(1) + self.bias, batch.mask)
        self.log("train_loss", loss, batch_size=len(batch))
        return loss

    def validation_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self.seen["val"] += [(self.current_epoch, dataloader_idx, index) for index in batch.index.tolist()]

    def test_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        for i in range(len(batch)):
            self.seen["test"].append((dataloader_idx, batch.dataset_name[i], batch.class_name[i], int(batch.index[i]),
                                      int(batch.label[i]), bool(batch.has_mask[i]), float(batch.mask[i].sum())))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.5)


def trainer(**kwargs) -> L.Trainer:
    return L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, **kwargs)


def test_fit_on_one_dataset_and_test_on_others(tmp_path, tree):
    train_root = make_synthetic_dataset(tmp_path / "train", classes=("grid_texture",), n_normal=2, n_anomalous=3)
    test_root = make_synthetic_dataset(tmp_path / "test", classes=("round_object",), n_normal=2, n_anomalous=3, seed=1)
    tree.image("brain/yes/y0.jpg")
    tree.image("brain/no/n0.jpg")
    data = AnomalyDataModule(
        train_sets=[{"name": "textures", "format": "mvtec", "root": str(train_root)}],
        val_sets=[{"name": "objects", "format": "mvtec", "root": str(test_root)}],
        test_sets=[DatasetSpec("objects", "mvtec", str(test_root)), DatasetSpec("br35h", "br35h", tree.path("brain"))],
        image_size=32, batch_size=2, num_workers=0,
    )
    model = PixelProbe()

    trainer(max_epochs=2).fit(model, data)
    trainer().test(model, data)

    assert sorted(model.seen["train"]) == [(epoch, index) for epoch in (0, 1) for index in range(5)]
    assert model.bias.item() != 0.0  # the masks reached the loss and trained the parameter
    assert sorted(model.seen["val"]) == [(epoch, 0, index) for epoch in (0, 1) for index in range(5)]
    test = model.seen["test"]
    assert [row[:4] for row in test] == [(0, "objects", "round_object", index) for index in range(5)] + [
        (1, "br35h", "br35h", 0), (1, "br35h", "br35h", 1)]
    assert [(row[4], row[5]) for row in test] == [(0, True)] * 2 + [(1, True)] * 3 + [(0, False), (1, False)]
    assert all(row[6] > 0 for row in test[2:5]) and all(row[6] == 0 for row in test[:2] + test[5:])


def test_train_loader_shuffles_and_test_loaders_keep_the_table_order(tmp_path):
    root = make_synthetic_dataset(tmp_path / "a", classes=("grid_texture",), n_normal=1, n_anomalous=1)
    other = make_synthetic_dataset(tmp_path / "b", classes=("round_object",), n_normal=1, n_anomalous=1)
    data = AnomalyDataModule(train_sets=[DatasetSpec("a", "mvtec", str(root))],
                             test_sets=[DatasetSpec("b", "mvtec", str(other))], image_size=32, num_workers=0)

    assert isinstance(data.train_dataloader().sampler, RandomSampler)
    assert [type(loader.sampler) for loader in data.test_dataloader()] == [SequentialSampler]
    assert data.val_dataloader() == []
    assert data.test_datasets[0].prompt_class_names == ["round object"]


def test_training_on_a_test_set_is_refused_unless_allowed():
    mvtec = {"name": "mvtec", "format": "mvtec", "root": "/data/mvtec"}
    same_root = {"name": "mvtec_meta", "format": "meta_json", "root": "/data/mvtec/"}

    with pytest.raises(ValueError, match=r"train set 'mvtec' \(/data/mvtec\) and test set 'mvtec_meta' "
                                         r"\(/data/mvtec/\) read the same data: .* allow_train_test_overlap=True"):
        AnomalyDataModule(train_sets=[mvtec], test_sets=[same_root])
    with pytest.raises(ValueError, match=r"read the same data"):  # a class folder inside the test root
        AnomalyDataModule(train_sets=[{**mvtec, "root": "/data/mvtec/bottle"}], test_sets=[mvtec])

    assert AnomalyDataModule(train_sets=[mvtec], test_sets=[same_root], allow_train_test_overlap=True).test_sets
    assert AnomalyDataModule(train_sets=[{**mvtec, "classes": ["bottle"]}],  # disjoint classes share no image
                             test_sets=[{**mvtec, "name": "rest", "classes": ["cable"]}]).train_sets
    assert AnomalyDataModule(train_sets=[mvtec], test_sets=[{**mvtec, "name": "m2", "root": "/data/mvtec2"}]).test_sets


def test_set_names_must_be_unique_and_stages_need_their_sets():
    visa = {"name": "visa", "format": "visa", "root": "/data/visa"}

    with pytest.raises(ValueError, match=r"test_sets: the name\(s\) \['visa'\] are used twice"):
        AnomalyDataModule(test_sets=[visa, {**visa, "root": "/data/visa2"}])
    with pytest.raises(ValueError, match=r"fit needs train_sets"):
        AnomalyDataModule(test_sets=[visa]).train_dataloader()
    with pytest.raises(ValueError, match=r"test needs test_sets"):
        AnomalyDataModule(train_sets=[visa]).test_dataloader()
