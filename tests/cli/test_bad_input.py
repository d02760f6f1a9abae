"""Every bad input is one line on stderr naming the value, what was expected and the fix, exit status 2, before
any model is built or any image decoded (nothing is written)."""

from __future__ import annotations

import pytest

from tipsomaly.cli import main


def _error(capsys, workspace, *args, command="fit") -> str:
    """Run the command (always with the workspace config), check it failed cleanly; returns the error line."""
    results = workspace / "never_written"
    status = main([command, "--config", str(workspace / "tiny.yaml"), *[str(a) for a in args]])
    assert status == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"tipsomaly {command}: error: ")
    assert not results.exists()
    return lines[0]


def test_a_typo_in_a_test_root_fails_fit_before_training(capsys, workspace):
    typo = workspace / "targett"
    line = _error(capsys, workspace, "--data.test_sets", f"[{{name: target, format: mvtec, root: {typo}}}]")
    assert f"'{typo}' does not exist" in line and "Fix:" in line


def test_an_unknown_key_names_it(capsys, workspace):
    line = _error(capsys, workspace, "--model.n_promt", "4")
    assert "--model.n_promt" in line and "tipsomaly fit --help" in line


def test_an_unknown_key_in_a_config_file_names_it(capsys, workspace, tmp_path):
    config = tmp_path / "typo.yaml"
    config.write_text("model:\n  sigmaa: 2\n")
    assert "model.sigmaa" in _error(capsys, workspace, "--config", config)


def test_an_image_size_off_the_patch_grid_suggests_one(capsys, workspace):
    line = _error(capsys, workspace, "--data.image_size", 30)
    assert "--data.image_size 30 is not a multiple of the patch size 14; use e.g. 28" in line


def test_model_image_size_is_refused_since_it_follows_the_data(capsys, workspace):
    assert "set --data.image_size instead" in _error(capsys, workspace, "--model.image_size", 28)


def test_a_results_folder_that_is_a_file(capsys, workspace, tmp_path):
    file = tmp_path / "results.txt"
    file.write_text("")
    assert f"--results_dir '{file}' is a file" in _error(capsys, workspace, "--results_dir", file)


def test_a_results_folder_with_results_is_not_overwritten_silently(capsys, workspace, tmp_path):
    (tmp_path / "test_results.csv").write_text("dataset,class\n")
    line = _error(capsys, workspace, "--results_dir", tmp_path, command="test")
    assert "already holds test results" in line and "--overwrite true" in line
    assert (tmp_path / "test_results.csv").read_text() == "dataset,class\n"


def test_a_missing_lightning_checkpoint(capsys, workspace, tmp_path):
    missing = tmp_path / "last.ckpt"
    line = _error(capsys, workspace, "--ckpt_path", missing, command="test")
    assert f"--ckpt_path '{missing}' does not exist" in line and "--model.prompt_checkpoint" in line


def test_a_prompt_file_given_as_lightning_checkpoint_says_where_it_goes(capsys, workspace, tmp_path):
    import torch

    prompt_file = tmp_path / "learnable_prompts_epoch2.pt"
    torch.save({"normal": torch.zeros(4, 64), "abnormal": torch.zeros(4, 64)}, prompt_file)
    line = _error(capsys, workspace, "--ckpt_path", prompt_file, command="test")
    assert "not a Lightning checkpoint" in line and "pass it with --model.prompt_checkpoint" in line


def test_a_file_that_is_no_checkpoint_at_all(capsys, workspace, tmp_path):
    junk = tmp_path / "notes.ckpt"
    junk.write_text("not a checkpoint")
    assert "is not a readable Lightning checkpoint" in _error(capsys, workspace, "--ckpt_path", junk, command="test")


def test_a_missing_prompt_checkpoint(capsys, workspace, tmp_path):
    missing = tmp_path / "learnable_prompts_epoch9.pt"
    line = _error(capsys, workspace, "--model.prompt_checkpoint", missing, command="test")
    assert f"'{missing}' does not exist" in line


def test_a_wrong_tips_checkpoint(capsys, workspace, tmp_path):
    assert "tokenizer" in _error(capsys, workspace, "--model.backbone.tokenizer", tmp_path / "tokenizer.model")


def test_an_unset_path_variable_is_named(capsys, workspace, monkeypatch):
    monkeypatch.delenv("TIPSOMALY_DATA", raising=False)
    line = _error(
        capsys, workspace, "--data.test_sets", '[{name: visa, format: visa, root: "${TIPSOMALY_DATA}/VisA_20220922"}]'
    )
    assert "uses $TIPSOMALY_DATA, which is not set; export TIPSOMALY_DATA=" in line


@pytest.mark.parametrize("command, key", [("test", "test_sets"), ("predict", "predict_sets")])
def test_a_command_without_its_data_says_which_key(capsys, workspace, command, key):
    line = _error(capsys, workspace, f"--data.{key}", "null", command=command)
    assert f"`{command}` needs --data.{key}" in line


def test_an_unknown_command(capsys):
    assert main(["train"]) == 2
    assert "unknown command 'train'" in capsys.readouterr().err


@pytest.mark.parametrize(("flag", "value", "expected"), [
    ("--trainer.max_epochs", -3, "--trainer.max_epochs -3 trains nothing; give a number of epochs >= 1 (or -1"),
    ("--trainer.max_epochs", 0, "--trainer.max_epochs 0 trains nothing"),
    ("--data.num_workers", -1, "--data.num_workers -1 is negative; give 0"),
])
def test_out_of_range_flags_are_refused_before_anything_runs(capsys, workspace, flag, value, expected):
    assert expected in _error(capsys, workspace, flag, value, "--results_dir", workspace / "never_written")


def test_invalid_yaml_in_a_config_names_the_file_and_the_position(capsys, workspace, tmp_path):
    config = tmp_path / "broken.yaml"
    config.write_text("model:\n  sigma: [2.0\ndata:\n  batch_size: 2\n")
    line = _error(capsys, workspace, "--config", config)
    assert f"config file '{config}' is not valid YAML at line 3, column 5" in line


def test_ckpt_path_last_without_a_checkpoint_is_refused(capsys, workspace, tmp_path):
    line = _error(capsys, workspace, "--ckpt_path", "last", "--results_dir", tmp_path / "empty", command="test")
    assert f"--ckpt_path last names no checkpoint ({tmp_path / 'empty' / 'checkpoints' / 'last.ckpt'} does not exist)" in line
    assert "untrained prompts" in line


def test_a_folder_given_as_ckpt_path_says_so(capsys, workspace, tmp_path):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "last.ckpt").write_bytes(b"")
    line = _error(capsys, workspace, "--ckpt_path", tmp_path / "run", command="test")
    assert f"--ckpt_path '{tmp_path / 'run'}' is a folder, expected a checkpoint file; did you mean {tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}?" in line


def test_a_dataset_name_that_would_write_outside_the_results_folder_is_refused(capsys, workspace, tmp_path):
    results = tmp_path / "deep" / "results"
    line = _error(capsys, workspace, "--data.test_sets", f"[{{name: ../../../outside, format: mvtec, root: {workspace / 'target'}}}]",
                  "--save_maps", "true", "--results_dir", results, command="test")
    assert "'../../../outside'" in line
    assert not results.exists() and not (tmp_path / "outside").exists()


def test_an_unquoted_variable_inside_a_flow_style_value_says_how_to_quote_it(capsys, workspace):
    line = _error(capsys, workspace, "--data.test_sets", "[{name: target, format: mvtec, root: ${HOME}/target}]", command="test")
    assert "--data.test_sets" in line and "is not valid YAML" in line and "quote that value (root: '${HOME}/data')" in line
