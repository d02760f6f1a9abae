"""The configs in configs/ parse through the `tipsomaly` command as a user runs them, and hold the paper's
protocol: its settings, its cross-dataset splits and the reference's prompt family per set."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from datamodules import DatasetSpec
from tipsomaly.cli import main

CONFIGS = Path(__file__).parents[1] / "configs"
EXPERIMENTS = ["mvtec_to_all.yaml", "mvtec_to_visa.yaml", "visa_to_mvtec.yaml", "zero_shot.yaml"]
TRAINERS = sorted(p.name for p in (CONFIGS / "trainer").glob("*.yaml"))
TABLE1_TARGETS = ["visa", "mpdd", "btad", "sdd", "dagm", "dtd", "headct", "brainmri", "br35h",
                  "isic", "colondb", "clinicdb", "tn3k"]


@pytest.fixture(autouse=True)
def paths(monkeypatch):
    monkeypatch.setenv("TIPSOMALY_DATA", "/data")
    monkeypatch.setenv("TIPSOMALY_CHECKPOINTS", "/checkpoints")


def resolved(capsys, *configs: str, command: str = "test") -> dict:
    """The config `tipsomaly <command> --config ... --print_config` prints."""
    args = [command]
    for name in configs:
        args += ["--config", str(CONFIGS / name)]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--print_config"])
    assert exit_info.value.code == 0
    return yaml.safe_load(capsys.readouterr().out)


def test_the_paper_settings(capsys):
    config = resolved(capsys, "paper.yaml")
    model, data = config["model"], config["data"]
    assert config["seed_everything"] == 111 and config["trainer"]["max_epochs"] == 2
    assert model["backbone"]["name"] == "tips-v1-l14-hr"
    assert model["backbone"]["checkpoint_dir"] == "${TIPSOMALY_CHECKPOINTS}"  # expanded when the run starts
    assert (model["fixed_prompts"], model["prompt_method"], model["n_prompt"]) == ("industrial", "concat", 8)
    assert model["image_token"] == "first" and model["local_to_global"] and model["decoupled"]
    assert (model["sigma"], model["loss"], model["lr"], tuple(model["betas"])) == (4.0, "seg", 0.001, (0.5, 0.999))
    assert (data["image_size"], data["batch_size"], data["shuffle"]) == (518, 8, False)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_each_experiment_composes_the_paper_settings(capsys, name):
    config = resolved(capsys, name)
    assert config["data"]["image_size"] == 518 and config["model"]["n_prompt"] == 8
    for spec in config["data"]["test_sets"] + (config["data"]["train_sets"] or []):
        assert spec["root"].startswith("${TIPSOMALY_DATA}/")
        DatasetSpec(**{**spec, "root": "/data"})  # valid fields for its format


def test_mvtec_to_all_is_table_1_with_the_reference_prompt_families(capsys):
    data = resolved(capsys, "mvtec_to_all.yaml", command="fit")["data"]
    assert [s["name"] for s in data["train_sets"]] == ["mvtec"]
    assert [s["name"] for s in data["test_sets"]] == TABLE1_TARGETS
    families = {s["name"]: s["fixed_prompts"] or DatasetSpec(**{**s, "root": "/data"}).fixed_prompts
                for s in data["test_sets"]}
    assert {name for name, family in families.items() if family == "medical"} == {"headct", "brainmri", "br35h"}
    levels = {s["name"]: DatasetSpec(**{**s, "root": "/data"}).levels for s in data["test_sets"]}
    assert [n for n, level in levels.items() if level == "pixel"] == ["isic", "colondb", "clinicdb", "tn3k"]
    assert [n for n, level in levels.items() if level == "image"] == ["headct", "brainmri", "br35h"]


def test_zero_shot_uses_the_fixed_prompts_only_on_every_set(capsys):
    config = resolved(capsys, "zero_shot.yaml")
    assert config["model"]["prompt_method"] == "none"
    assert [s["name"] for s in config["data"]["test_sets"]] == ["mvtec", *TABLE1_TARGETS]


@pytest.mark.parametrize("name", TRAINERS)
def test_trainer_presets_compose_after_an_experiment(capsys, name):
    trainer = resolved(capsys, "mvtec_to_all.yaml", f"trainer/{name}")["trainer"]
    expected = yaml.safe_load((CONFIGS / "trainer" / name).read_text())["trainer"]
    assert {key: trainer[key] for key in expected} == expected


def test_the_presets_exist():
    assert TRAINERS == ["cpu.yaml", "ddp.yaml", "gpu.yaml", "multi_node.yaml"]
    assert yaml.safe_load((CONFIGS / "trainer" / "gpu.yaml").read_text())["trainer"]["precision"] == "bf16-mixed"
