"""What `tipsomaly sweep run` checks before any work, and what it says while it works."""

import pytest
import yaml

from tests.sweep.fake_cli import FakeMain, sweep_file
from tipsomaly.sweep import sweep_main

GRID = {"model.n_prompt": {"values": [4, 8]}, "model.lr": {"values": [0.01, 0.001]}}


@pytest.fixture
def main(monkeypatch):
    fake = FakeMain()
    monkeypatch.setattr("tipsomaly.cli.main", fake)
    return fake


def _refused(capsys, argv) -> str:
    assert sweep_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("tipsomaly sweep: error: ")
    return err


def test_bad_sweep_files_and_counts_are_one_line_before_any_work(tmp_path, main, capsys):
    good = sweep_file(tmp_path, GRID)
    out = str(tmp_path / "out")
    assert "--count is -1; give a positive number" in _refused(capsys, ["run", str(good), "--out", out, "--count", "-1"])
    assert "--count is 0" in _refused(capsys, ["run", str(good), "--out", out, "--count", "0"])
    empty = sweep_file(tmp_path / "e", {"model.n_prompt": {"values": []}})
    assert "parameter 'model.n_prompt' has values: []; give a list of at least one value" in _refused(capsys, ["run", str(empty), "--out", out])
    typo = sweep_file(tmp_path / "t", GRID, paramters={"model.sigma": {"values": [1.0]}})
    assert "unknown key 'paramters' at the top level; did you mean 'parameters'?" in _refused(capsys, ["run", str(typo), "--out", out])
    inner = sweep_file(tmp_path / "i", {"model.n_prompt": {"valeus": [4]}})
    assert "unknown key 'valeus' in parameter 'model.n_prompt'; did you mean 'values'?" in _refused(capsys, ["run", str(inner), "--out", out])
    listed = tmp_path / "list.yaml"
    listed.write_text(yaml.safe_dump([{"method": "grid"}]))
    assert "holds a YAML list, expected a mapping with method, parameters and command" in _refused(capsys, ["run", str(listed), "--out", out])
    missing = sweep_file(tmp_path / "m", GRID)
    (tmp_path / "m" / "c.yaml").unlink()
    err = _refused(capsys, ["run", str(missing), "--out", out])
    assert f"--config '../c.yaml' is '{tmp_path / 'm' / 'c.yaml'}' (relative to the sweep file's folder), which does not exist" in err
    (tmp_path / "file").write_text("")
    assert "--out" in _refused(capsys, ["run", str(good), "--out", str(tmp_path / "file")])
    assert main.calls == [] and not (tmp_path / "out").exists()


def test_config_paths_are_relative_to_the_sweep_file_from_any_folder(tmp_path, main, monkeypatch):
    path = sweep_file(tmp_path / "project", GRID)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert sweep_main(["run", str(path), "--out", "out"]) == 0
    assert {c[2] for c in main.calls} == {str(tmp_path / "project" / "c.yaml")}
    assert (elsewhere / "out" / "sweep_results.csv").is_file()


def test_count_caps_a_grid_and_progress_is_printed(tmp_path, main, capsys):
    assert sweep_main(["run", str(sweep_file(tmp_path, GRID)), "--out", str(tmp_path / "out"), "--count", "3"]) == 0
    assert [c[0] for c in main.calls] == ["fit", "test"] * 3
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].endswith(f"the first 3 of the grid's 4 points (--count 3); 0 already finished in {tmp_path / 'out'} (skipped), 3 to run")
    assert printed[1] == "sweep run000 (1/3 to run, 3 in all): --model.n_prompt=4 --model.lr=0.01"
    assert printed[2].startswith("sweep run000 finished in 0 s (1/3 done; about 0 s for the 2 left)")
    assert printed[6].startswith("sweep run002 finished in") and "left" not in printed[6]


def test_help_lists_overwrite_count_and_the_path_rule(capsys):
    with pytest.raises(SystemExit):
        sweep_main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--overwrite" in text and "--count" in text
    assert "A relative --config in the sweep file's command is relative to the sweep file's folder" in text


def test_the_shipped_sweeps_resolve_their_config_from_another_folder(tmp_path, monkeypatch):
    from pathlib import Path

    from tipsomaly.sweep.main import _agent_config
    from tipsomaly.sweep.sweep_file import command_arguments, load_sweep, resolve_configs

    shipped = Path(__file__).parents[2] / "configs" / "sweeps"
    monkeypatch.chdir(tmp_path)
    for name in ("grid.yaml", "bayes.yaml"):
        args = command_arguments(load_sweep(shipped / name))
        assert resolve_configs(args, shipped, name)[1] == str(shipped.parent / "mvtec_to_visa.yaml")
        assert _agent_config(args)[1] == str(shipped.parent / "mvtec_to_visa.yaml")  # `wandb agent` in any folder
