"""The configs in configs/ parse through the `tipsomaly` command as a user runs them, and hold the paper's
protocol: its settings, its cross-dataset splits and the reference's prompt family per set."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from datamodules import DatasetSpec
from tipsomaly.checkpoint_arguments import flatten  # {"data": {"shuffle": False}} -> {"data.shuffle": False}, lists whole
from tipsomaly.cli import main
from tipsomaly.config_files import (
    ConfigFileError, expand_config_arguments, given_configs, merge_configs, resolve_config,
)

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
    assert model["aupro"] == "mvtec"  # the region-overlap definition of MVTec AD, not the paper code's own
    assert yaml.safe_load((CONFIGS / "paper.yaml").read_text())["model"]["aupro"] == "mvtec"  # stated, not a default


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


# -- inheritance: a config that starts from another keeps the parent's settings it does not set ---------------

def _cli_configs() -> list[Path]:
    """Every config in configs/ (subfolders too) that the CLI reads: not the W&B sweep files."""
    files = sorted(CONFIGS.rglob("*.yaml"))
    return [f for f in files if "program" not in (yaml.safe_load(f.read_text()) or {})]


def _expected(path: Path) -> dict:
    """What `path` should set, read from the YAML files: each parent's leaves in order, then the file's own; a
    leaf set later drops what an earlier one set at or under that key."""
    content = yaml.safe_load(path.read_text()) or {}
    parents = content.pop("config", None) or []
    expected: dict = {}
    for name in [parents] if isinstance(parents, str) else parents:
        parent = path.parent / name if (path.parent / name).is_file() else CONFIGS / name
        expected = _override(expected, _expected(parent))
    return _override(expected, flatten(content))


def _override(base: dict, later: dict) -> dict:
    replaced = [k for k in later if not k.endswith("class_path")]
    # another class: its section starts afresh (the old init_args would not fit it)
    replaced += [k[: -len("class_path")].rstrip(".") for k, v in later.items()
                 if k.endswith("class_path") and base.get(k, v) != v]
    kept = {k: v for k, v in base.items()
            if not any(k == new or k.startswith(new + ".") or not new for new in replaced)}
    return {**kept, **later}


def _printed(config: dict, dotted: str):
    value = config
    for part in dotted.split("."):
        value = value[part]
    return value


def _matches(printed, expected) -> bool:
    """Printed values carry every default too (a dataset spec's other fields): compare what the file set."""
    if isinstance(expected, dict):
        return isinstance(printed, dict) and all(_matches(printed.get(k), v) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(printed, list) and len(printed) == len(expected) and all(map(_matches, printed, expected))
    return printed == expected


@pytest.mark.parametrize("path", _cli_configs(), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_config_keeps_its_parents_settings_unless_it_sets_them(capsys, path):
    config = resolved(capsys, str(path.relative_to(CONFIGS)))
    expected = _expected(path)
    assert expected, f"{path} sets nothing"
    wrong = {key: (value, _printed(config, key)) for key, value in expected.items()
             if key != "model.image_size" and not _matches(_printed(config, key), value)}
    assert not wrong, f"--print_config of {path.name} differs from its files (expected, printed): {wrong}"


@pytest.mark.parametrize("name", ["mvtec_to_all.yaml", "mvtec_to_visa.yaml", "visa_to_mvtec.yaml"])
def test_experiments_naming_their_sets_keep_the_paper_data_settings(capsys, name):
    data = resolved(capsys, name)["data"]  # their `data:` section once replaced paper's: shuffle was true
    assert (data["shuffle"], data["batch_size"], data["image_size"]) == (False, 8, 518)


def test_zero_shot_gets_past_the_parser_with_the_paper_backbone(capsys):
    assert resolved(capsys, "zero_shot.yaml")["model"]["backbone"]["name"] == "tips-v1-l14-hr"
    assert main(["test", "--config", str(CONFIGS / "zero_shot.yaml")]) == 2
    error = capsys.readouterr().err
    assert "required" not in error  # once: "the following arguments are required: test.model.backbone"
    assert "mvtec dataset root '/data/mvtec_anomaly_detection' does not exist" in error  # the next check, as meant


def test_a_user_config_with_its_own_trainer_keeps_the_paper_epochs(capsys, tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text(f"config: {CONFIGS / 'paper.yaml'}\ntrainer:\n  accelerator: cpu\n")
    config = resolved(capsys, str(user))
    assert (config["trainer"]["max_epochs"], config["trainer"]["accelerator"]) == (2, "cpu")  # was null: 1000 epochs
    assert config["model"]["n_prompt"] == 8 and config["data"]["shuffle"] is False


def test_the_list_form_applies_every_listed_file_in_order(capsys, tmp_path):
    (tmp_path / "slow.yaml").write_text("trainer:\n  precision: 64-true\n  max_epochs: 5\n")
    user = tmp_path / "demo_like.yaml"
    user.write_text(f"config: [{CONFIGS / 'paper.yaml'}, {CONFIGS / 'trainer' / 'cpu.yaml'}, slow.yaml]\n"
                    "data:\n  batch_size: 2\n")
    config = resolved(capsys, str(user))
    trainer, data = config["trainer"], config["data"]
    assert (trainer["accelerator"], trainer["devices"], trainer["precision"]) == ("cpu", 1, "64-true")  # later wins
    assert trainer["max_epochs"] == 5 and config["model"]["sigma"] == 4.0
    assert (data["batch_size"], data["shuffle"], data["image_size"]) == (2, False, 518)


def test_several_config_flags_still_compose_key_by_key(capsys, tmp_path):
    (tmp_path / "sigma.yaml").write_text("model:\n  sigma: 2.0\ndata:\n  batch_size: 4\n")
    config = resolved(capsys, "mvtec_to_visa.yaml", "trainer/cpu.yaml", str(tmp_path / "sigma.yaml"))
    assert (config["model"]["sigma"], config["model"]["n_prompt"], config["model"]["lr"]) == (2.0, 8, 0.001)
    assert (config["data"]["batch_size"], config["data"]["shuffle"]) == (4, False)
    assert [s["name"] for s in config["data"]["test_sets"]] == ["visa"]
    assert (config["trainer"]["max_epochs"], config["trainer"]["precision"]) == (2, "32-true")


def test_a_parent_model_image_size_is_refused_naming_the_config(capsys, tmp_path):
    (tmp_path / "base.yaml").write_text("model:\n  image_size: 224\n")
    (tmp_path / "child.yaml").write_text("config: base.yaml\ndata:\n  batch_size: 2\n")
    assert main(["test", "--config", str(tmp_path / "child.yaml")]) == 2
    error = capsys.readouterr().err
    assert "set --data.image_size instead" in error and "child.yaml" in error


def test_a_missing_parent_is_one_line_naming_both_files(capsys, tmp_path):
    (tmp_path / "child.yaml").write_text("config: nowhere.yaml\n")
    assert main(["test", "--config", str(tmp_path / "child.yaml")]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and f"'{tmp_path / 'child.yaml'}' starts from 'nowhere.yaml'" in error


# -- tipsomaly.config_files.resolve_config, the pure function behind it --------------------------------------

def test_parents_resolve_beside_the_child_recursively_not_from_the_working_folder(tmp_path, monkeypatch):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "root.yaml").write_text("model: {sigma: 1.0, lr: 0.5}\ndata: {batch_size: 2}\n")
    (tmp_path / "base" / "mid.yaml").write_text("config: root.yaml\nmodel: {sigma: 2.0}\n")
    (tmp_path / "top.yaml").write_text("config: base/mid.yaml\ndata: {shuffle: false}\n")
    monkeypatch.chdir(tmp_path / "base")
    assert resolve_config(tmp_path / "top.yaml") == {
        "model": {"sigma": 2.0, "lr": 0.5}, "data": {"batch_size": 2, "shuffle": False},
    }


def test_merge_replaces_lists_and_another_class_path_whole():
    base = {"data": {"test_sets": [{"name": "a"}, {"name": "b"}], "shuffle": False},
            "trainer": {"logger": {"class_path": "A", "init_args": {"only_a": 1}}}}
    later = {"data": {"test_sets": [{"name": "c"}]},
             "trainer": {"logger": {"class_path": "B", "init_args": {"only_b": 2}}}}
    assert merge_configs(base, later) == {
        "data": {"test_sets": [{"name": "c"}], "shuffle": False},
        "trainer": {"logger": {"class_path": "B", "init_args": {"only_b": 2}}},
    }
    same_class = {"trainer": {"logger": {"class_path": "A", "init_args": {"extra": 3}}}}
    assert merge_configs(base, same_class)["trainer"]["logger"]["init_args"] == {"only_a": 1, "extra": 3}
    assert base["data"]["test_sets"] == [{"name": "a"}, {"name": "b"}]  # inputs untouched


def test_a_cycle_names_the_files(tmp_path):
    (tmp_path / "a.yaml").write_text("config: b.yaml\n")
    (tmp_path / "b.yaml").write_text("config: [a.yaml]\n")
    with pytest.raises(ConfigFileError, match=r"cycle: .*a\.yaml -> .*b\.yaml -> .*a\.yaml"):
        resolve_config(tmp_path / "a.yaml")


def test_invalid_yaml_names_the_file_and_position(tmp_path):
    (tmp_path / "parent.yaml").write_text("model:\n  sigma: 2.0\n   lr: 0.1\n")
    (tmp_path / "child.yaml").write_text("config: parent.yaml\n")
    with pytest.raises(ConfigFileError) as error:
        resolve_config(tmp_path / "child.yaml")
    assert f"'{tmp_path / 'parent.yaml'}' is not valid YAML at line 3, column 6" in str(error.value)


@pytest.mark.parametrize("content, expected", [
    ("- model\n", "holds a list, expected a mapping"),
    ("config: {a: 1}\n", "expected a file name or a list of them"),
])
def test_a_config_of_the_wrong_shape_says_what_is_expected(tmp_path, content, expected):
    (tmp_path / "bad.yaml").write_text(content)
    with pytest.raises(ConfigFileError, match=expected):
        resolve_config(tmp_path / "bad.yaml")


# -- packaged configs: a name that is not a file here is looked up among them ------------------------------------

def test_a_name_that_is_not_a_local_file_is_a_packaged_config(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ here
    (tmp_path / "mine.yaml").write_text("config: mvtec_to_visa.yaml\ntrainer: {accelerator: cpu}\n")
    for flags in (["--config", "paper.yaml"], ["--config=configs/paper.yaml"], ["--config", "mine.yaml"]):
        with pytest.raises(SystemExit):
            main(["test", *flags, "--config", "trainer/cpu.yaml", "--print_config"])
        config = yaml.safe_load(capsys.readouterr().out)
        assert config["model"]["backbone"]["name"] == "tips-v1-l14-hr" and config["trainer"]["precision"] == "32-true"
    assert [s["name"] for s in config["data"]["test_sets"]] == ["visa"] and config["trainer"]["max_epochs"] == 2


def test_a_local_file_wins_over_the_packaged_one_of_that_name(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "paper.yaml").write_text("model: {sigma: 9.0}\n")
    assert resolve_config("paper.yaml") == {"model": {"sigma": 9.0}}


def test_an_unknown_config_name_is_one_line_pointing_at_tipsomaly_configs(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["test", "--config", "papr.yaml"]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "'papr.yaml' does not exist" in error and "`tipsomaly configs` lists" in error


def test_tipsomaly_configs_lists_every_packaged_config_with_its_summary(capsys):
    assert main(["configs"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    listed = {line.split()[0]: line.split(None, 1)[1] for line in lines}
    assert set(listed) == {p.relative_to(CONFIGS).as_posix() for p in CONFIGS.rglob("*.yaml")}
    assert listed["trainer/cpu.yaml"] == (CONFIGS / "trainer" / "cpu.yaml").read_text().splitlines()[0].lstrip("# ")
    assert main(["configs", "zero_shot.yaml", "--resolved"]) == 0
    merged = yaml.safe_load(capsys.readouterr().out)
    assert merged["model"]["backbone"]["name"] == "tips-v1-l14-hr" and merged["model"]["prompt_method"] == "none"
    assert main(["configs", "trainer/gpu.yaml"]) == 0
    assert capsys.readouterr().out == (CONFIGS / "trainer" / "gpu.yaml").read_text()


def test_only_config_files_are_expanded_inline_yaml_is_left_to_jsonargparse(tmp_path):
    (tmp_path / "base.yaml").write_text("model: {sigma: 1.0, lr: 0.5}\n")
    (tmp_path / "child.yaml").write_text("config: base.yaml\nmodel: {sigma: 2.0}\n")
    argv = ["test", "--config", "model: {sigma: 3.0}", f"--config={tmp_path / 'child.yaml'}", "--model.lr", "0.1"]
    expanded = expand_config_arguments(argv)
    assert expanded[:3] == argv[:3] and expanded[4:] == argv[4:]
    assert expanded[3].startswith("--config=# tipsomaly: ")
    assert yaml.safe_load(expanded[3].removeprefix("--config=")) == {"model": {"sigma": 2.0, "lr": 0.5}}
    assert given_configs(expanded) == [("model: {sigma: 3.0}", {"model": {"sigma": 3.0}}),
                                       (str(tmp_path / "child.yaml"), {"model": {"sigma": 2.0, "lr": 0.5}})]
