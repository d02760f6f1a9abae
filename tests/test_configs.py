"""Every config in configs/ parses against the constructors it mirrors."""

from pathlib import Path

import pytest
from jsonargparse import ArgumentParser

from datamodules import AnomalyDataModule, DatasetSpec
from lightning_modules import Tipsomaly, TipsSpec

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


def _parser():
    parser = ArgumentParser()
    parser.add_argument("--seed_everything", type=int)
    parser.add_argument("--trainer", type=dict)
    parser.add_class_arguments(Tipsomaly, "model")
    parser.add_class_arguments(AnomalyDataModule, "data")
    return parser


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_parses_into_typed_arguments(path):
    config = _parser().parse_path(str(path))
    backbone = TipsSpec(**vars(config.model.backbone))  # the fields a TipsSpec takes, nothing else
    assert backbone.name == "tips-v1-l14-hr" and backbone.checkpoint_dir == "checkpoints"
    assert config.model.image_size == config.data.image_size
    assert config.trainer["max_epochs"] == 2  # the paper's default prompt training length
    for spec in config.data.train_sets + config.data.test_sets:
        assert DatasetSpec(**vars(spec)).format in ("mvtec", "visa")


def test_the_configs_exist():
    assert {p.name for p in CONFIGS} >= {"mvtec_to_visa.yaml", "visa_to_mvtec.yaml"}
