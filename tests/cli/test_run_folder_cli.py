"""One run folder per run, at the command: --overwrite leaves nothing of the previous run, one config per stage,
resume without --overwrite, a stopped fit says how to resume, one run at a time."""

from __future__ import annotations

import shlex

import pytest
import torch
import yaml

from lightning_modules.tipsomaly import load_prompt_checkpoint
from tipsomaly.cli import main


def run(workspace, *args) -> int:
    return main([args[0], "--config", str(workspace / "tiny.yaml"), *map(str, args[1:])])


def checkpoint_prompts(path) -> torch.Tensor:
    state = torch.load(path, weights_only=True, map_location="cpu")["state_dict"]
    return torch.cat([value.flatten() for key, value in sorted(state.items()) if key.startswith("model.prompts.")])


def file_prompts(path) -> torch.Tensor:
    prompts = load_prompt_checkpoint(path)
    return torch.cat([prompts.abnormal.flatten(), prompts.normal.flatten()])


def test_fit_with_overwrite_replaces_the_checkpoint_and_prompts_of_the_earlier_fit(workspace):
    results = workspace / "refit"
    assert run(workspace, "fit", "--results_dir", results) == 0
    first = checkpoint_prompts(results / "checkpoints" / "last.ckpt")
    assert run(workspace, "fit", "--results_dir", results, "--overwrite", "true", "--trainer.max_epochs", 1,
               "--seed_everything", 7) == 0
    assert sorted(p.name for p in (results / "checkpoints").iterdir()) == ["last.ckpt"]  # no last-v1.ckpt
    assert sorted(p.name for p in (results / "prompts").iterdir()) == ["learnable_prompts_epoch1.pt"]  # no stale epoch2
    second = checkpoint_prompts(results / "checkpoints" / "last.ckpt")
    assert not torch.allclose(first, second)
    saved = torch.load(results / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert saved["epoch"] == 0 and yaml.safe_load((results / "config_fit.yaml").read_text())["seed_everything"] == 7


def test_test_with_overwrite_and_no_maps_leaves_no_maps_or_overlays_of_the_earlier_test(workspace, capsys):
    results = workspace / "retest"
    assert run(workspace, "test", "--results_dir", results, "--save_maps", "true") == 0
    assert (results / "maps").is_dir() and (results / "overlays").is_dir()
    capsys.readouterr()
    assert run(workspace, "test", "--results_dir", results, "--overwrite", "true", "--model.sigma", 2.0) == 0
    assert not (results / "maps").exists() and not (results / "overlays").exists()
    printed = capsys.readouterr().out
    assert "maps" not in printed and "overlays" not in printed
    assert f"  {results / 'test_predictions.csv'}" in printed
    assert yaml.safe_load((results / "config_test.yaml").read_text())["model"]["sigma"] == 2.0
    assert not (results / "run.lock").exists()  # released at the end


def test_fit_resumes_from_its_own_last_checkpoint_without_overwrite(workspace):
    results = workspace / "resumed"
    assert run(workspace, "fit", "--results_dir", results, "--trainer.max_epochs", 1) == 0
    epoch1 = (results / "prompts" / "learnable_prompts_epoch1.pt").read_bytes()
    assert run(workspace, "fit", "--results_dir", results, "--trainer.max_epochs", 2,
               "--ckpt_path", results / "checkpoints" / "last.ckpt") == 0
    assert sorted(p.name for p in (results / "prompts").iterdir()) == ["learnable_prompts_epoch1.pt", "learnable_prompts_epoch2.pt"]
    assert (results / "prompts" / "learnable_prompts_epoch1.pt").read_bytes() == epoch1  # appended, not redone
    assert torch.load(results / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")["epoch"] == 1  # counted on from epoch 0
    assert sorted(p.name for p in (results / "checkpoints").iterdir()) == ["last.ckpt"]
    torch.testing.assert_close(checkpoint_prompts(results / "checkpoints" / "last.ckpt"),
                               file_prompts(results / "prompts" / "learnable_prompts_epoch2.pt"))


@pytest.mark.parametrize(("how", "status", "said"), [("sigterm", 143, "SIGTERM"), ("ctrl-c", 130, "Ctrl-C")])
def test_a_stopped_fit_exits_non_zero_says_what_was_kept_and_resumes_with_the_printed_command(workspace, capsys, how, status, said):
    results = workspace / f"stopped_{how}"
    stop = f"{{class_path: tests.cli.stop_fit.StopInSecondEpoch, init_args: {{how: {how}}}}}"
    assert run(workspace, "fit", "--results_dir", results, "--trainer.callbacks", f"[{stop}]") == status
    err = capsys.readouterr().err
    assert f"stopped by {said}" in err
    assert f"kept: {results / 'prompts' / 'learnable_prompts_epoch1.pt'}" in err
    assert f"kept: {results / 'checkpoints' / 'last.ckpt'}" in err
    (command,) = [line.split("resume with: ", 1)[1] for line in err.splitlines() if "resume with: " in line]
    words = shlex.split(command)
    assert words[:2] == ["tipsomaly", "fit"] and words[-2:] == ["--ckpt_path", str(results / "checkpoints" / "last.ckpt")]
    assert not (results / "prompts" / "learnable_prompts_epoch2.pt").exists()
    assert main(words[1:]) == 0  # resumes into the same folder, no --overwrite
    assert (results / "prompts" / "learnable_prompts_epoch2.pt").is_file()


def test_a_second_run_into_a_folder_in_use_is_one_line(workspace, capsys):
    results = workspace / "busy"
    results.mkdir()
    (results / "run.lock").write_text("tipsomaly test (pid 12345)\n")
    assert run(workspace, "test", "--results_dir", results) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"--results_dir '{results}' is in use by tipsomaly test (pid 12345)" in line
    assert sorted(p.name for p in results.iterdir()) == ["run.lock"]  # nothing written, the lock is not ours to remove


def test_the_saved_config_holds_absolute_paths_for_relative_roots_and_ckpt_path(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    results = workspace / "relative"
    assert run(workspace, "fit", "--results_dir", "relative", "--trainer.max_epochs", 1,
               "--data.train_sets", "[{name: source, format: mvtec, root: source}]",
               "--data.test_sets", "[{name: target, format: mvtec, root: target}]") == 0
    config = yaml.safe_load((results / "config_fit.yaml").read_text())
    assert [s["root"] for s in config["data"]["train_sets"]] == [str(workspace / "source")]
    assert config["results_dir"] == str(results)
    assert run(workspace, "test", "--results_dir", "relative", "--ckpt_path", "relative/checkpoints/last.ckpt",
               "--data.test_sets", "[{name: target, format: mvtec, root: target}]") == 0
    config = yaml.safe_load((results / "config_test.yaml").read_text())
    assert config["ckpt_path"] == str(results / "checkpoints" / "last.ckpt")
    assert [s["root"] for s in config["data"]["test_sets"]] == [str(workspace / "target")]


def test_a_test_stopped_by_sigterm_exits_non_zero_and_says_nothing_was_written(workspace, capsys):
    results = workspace / "stopped_test"
    assert run(workspace, "test", "--results_dir", results, "--trainer.callbacks", "[tests.cli.stop_fit.StopTest]") == 143
    assert "tipsomaly test: stopped by SIGTERM before it finished; its results were not written" in capsys.readouterr().err
    assert not (results / "test_results.csv").exists() and not (results / "run.lock").exists()


def test_predictions_and_maps_that_cannot_be_written_go_to_a_fresh_folder(workspace, monkeypatch):
    from lightning_modules.callbacks import prediction_writer

    results = workspace / "full_disk"
    real = prediction_writer.atomic_path

    def full_disk(path):
        if str(path).startswith(str(results)):
            raise OSError(28, "No space left on device")
        return real(path)

    monkeypatch.setattr(prediction_writer, "atomic_path", full_disk)
    with pytest.warns(UserWarning, match=r"could not write the test predictions to .*full_disk .*No space left on device.*; they are in (\S+)") as caught:
        assert run(workspace, "test", "--results_dir", results, "--save_maps", "true") == 0
    fallback = next(str(w.message) for w in caught if "could not write the test predictions" in str(w.message)).rsplit(" ", 1)[1]
    from pathlib import Path

    assert (Path(fallback) / "test_predictions.csv").is_file()
    assert sorted(p.name for p in (Path(fallback) / "maps" / "target").iterdir()) == ["grid_texture.npz", "round_object.npz"]
    assert (results / "test_results.csv").is_file()  # the tables could be written where asked
