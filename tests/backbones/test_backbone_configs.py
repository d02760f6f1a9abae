"""configs/backbones/*.yaml compose after a protocol config and name a backbone at a size on its patch grid."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tipsomaly.cli import main

CONFIGS = Path(__file__).parents[2] / "configs"
BACKBONES = sorted((CONFIGS / "backbones").glob("*.yaml"))
PATCH = {"tips": 14, "google/siglip2": 16}


@pytest.mark.parametrize("path", BACKBONES, ids=[p.stem for p in BACKBONES])
def test_a_backbone_config_composes_after_a_protocol(path, capsys, monkeypatch):
    monkeypatch.setenv("TIPSOMALY_DATA", "/data")
    monkeypatch.setenv("TIPSOMALY_CHECKPOINTS", "/checkpoints")
    with pytest.raises(SystemExit) as stop:
        main(["fit", "--config", str(CONFIGS / "mvtec_to_visa.yaml"), "--config", str(path), "--print_config"])
    assert stop.value.code in (0, None)
    config = yaml.safe_load(capsys.readouterr().out)
    own = yaml.safe_load(path.read_text())
    backbone = config["model"]["backbone"]
    assert {key: backbone[key] for key in own["model"]["backbone"]} == own["model"]["backbone"]
    assert [s["name"] for s in config["data"]["train_sets"]] == ["mvtec"]  # the protocol is kept
    patch = next(size for prefix, size in PATCH.items() if backbone["name"].startswith(prefix))
    assert config["data"]["image_size"] % patch == 0


def test_every_backbone_family_of_the_comparison_has_a_config():
    assert [p.stem for p in BACKBONES] == [
        "siglip2-base-patch16-224", "siglip2-large-patch16-512", "siglip2-so400m-patch16-256",
        "tips-v1-l14-hr", "tips-v2-b14", "tips-v2-g14", "tips-v2-l14", "tips-v2-so400m14",
    ]
