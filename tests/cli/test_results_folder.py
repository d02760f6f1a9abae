"""Where a run writes, and the rule that earlier results are never overwritten silently."""

from __future__ import annotations

import pytest

from tipsomaly.paths import UnsetVariableError, expand_variables
from tipsomaly.run_folder import ResultsFolderError, RunFolder, check_results_dir


def test_versions_count_up_from_the_highest(tmp_path):
    assert RunFolder.next_version(tmp_path).root == tmp_path / "version_0"
    for name in ("version_0", "version_7", "version_x"):
        (tmp_path / name).mkdir()
    assert RunFolder.next_version(tmp_path).root == tmp_path / "version_8"


def test_a_test_may_go_into_the_folder_of_its_fit_but_not_twice(tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "config.yaml").write_text("")
    assert check_results_dir(tmp_path, "test", overwrite=False) == tmp_path
    with pytest.raises(ResultsFolderError, match=r"already holds fit results .*\(prompts\): .*prompts exists and would be overwritten; pass --overwrite true"):
        check_results_dir(tmp_path, "fit", overwrite=False)
    (tmp_path / "test_results.md").write_text("")
    with pytest.raises(ResultsFolderError, match=r"\(test_results.md\)"):
        check_results_dir(tmp_path, "test", overwrite=False)
    assert check_results_dir(tmp_path, "test", overwrite=True) == tmp_path


def test_environment_variables_in_paths(monkeypatch):
    monkeypatch.setenv("TIPSOMALY_DATA", "/datasets")
    assert expand_variables("${TIPSOMALY_DATA}/VisA_20220922", "root") == "/datasets/VisA_20220922"
    assert expand_variables("$TIPSOMALY_DATA/mvtec", "root") == "/datasets/mvtec"
    monkeypatch.delenv("TIPSOMALY_CHECKPOINTS", raising=False)
    with pytest.raises(UnsetVariableError, match=r"uses \$TIPSOMALY_CHECKPOINTS, which is not set; export"):
        expand_variables("${TIPSOMALY_CHECKPOINTS}", "model.backbone.checkpoint_dir")


def test_names_that_would_leave_the_results_folder_are_refused_naming_them(tmp_path):
    folder = RunFolder(tmp_path / "run")
    assert folder.map_file("visa", "pcb1") == tmp_path / "run" / "maps" / "visa" / "pcb1.npz"
    assert folder.overlay_file("visa", "pcb1", "bad_000") == tmp_path / "run" / "overlays" / "visa" / "pcb1" / "bad_000.png"
    with pytest.raises(ResultsFolderError, match=r"dataset name '\.\./\.\./\.\./outside' cannot be a folder name"):
        folder.overlay_file("../../../outside", "pcb1", "x")
    with pytest.raises(ResultsFolderError, match=r"class name 'a/\.\./\.\./b' cannot be a folder name"):
        folder.map_file("visa", "a/../../b")
    with pytest.raises(ResultsFolderError, match=r"dataset name '\.\.' cannot"):
        folder.map_file("..", "pcb1")


def test_only_one_run_holds_a_folder_at_a_time(tmp_path):
    first, second = RunFolder(tmp_path), RunFolder(tmp_path)
    first.claim("fit")
    with pytest.raises(ResultsFolderError, match=r"is in use by tipsomaly fit \(pid \d+ on .+\)"):
        second.claim("test")
    first.release()
    second.claim("test")
    assert (tmp_path / "run.lock").read_text().startswith("tipsomaly test")


def test_overwrite_clears_only_the_stage_that_runs(tmp_path):
    folder = RunFolder(tmp_path)
    for name in ("config_fit.yaml", "config_test.yaml", "test_results.csv", "test_predictions.csv"):
        (tmp_path / name).write_text("")
    for sub in ("prompts", "checkpoints", "maps/visa", "overlays/visa/pcb1"):
        (tmp_path / sub).mkdir(parents=True)
    removed = folder.clear("test")
    assert sorted(p.name for p in removed) == ["config_test.yaml", "maps", "overlays", "test_predictions.csv", "test_results.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "config_fit.yaml", "prompts"]


def test_old_folders_config_yaml_is_read_as_any_stages_config(tmp_path):
    folder = RunFolder(tmp_path)
    assert folder.config_to_read("test") is None
    (tmp_path / "config.yaml").write_text("")
    assert folder.config_to_read("test") == tmp_path / "config.yaml"
    (tmp_path / "config_test.yaml").write_text("")
    assert folder.config_to_read("test") == tmp_path / "config_test.yaml"


def test_the_harmless_lightning_notices_go_and_the_model_summary_stays(caplog):
    import logging
    import warnings

    from lightning.fabric.utilities.warnings import PossibleUserWarning

    from tipsomaly.quiet import silence_harmless_messages

    silence_harmless_messages()
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", category=UserWarning)
        silence_harmless_messages()  # catch_warnings reset the filters: install them again inside
        warnings.warn("The number of training batches (3) is smaller than the logging interval Trainer(log_every_n_steps=50).",
                      PossibleUserWarning)
        warnings.warn("another warning about the user's data", UserWarning)
    assert [str(w.message) for w in caught] == ["another warning about the user's data"]
    summary = logging.getLogger("lightning.pytorch.callbacks.model_summary")
    with caplog.at_level(logging.INFO, logger=summary.name):
        summary.info("\n" + "1.0 K     Trainable params\n0         Total Flops\n12        Modules in eval mode")
    assert caplog.records[-1].getMessage() == "\n1.0 K     Trainable params\n12        Modules in eval mode"


def test_a_lock_left_by_a_killed_run_on_this_machine_is_taken_over(tmp_path):
    import socket
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    (tmp_path / "run.lock").write_text(f"tipsomaly fit (pid {gone} on {socket.gethostname()})\n")
    RunFolder(tmp_path).claim("test")
    assert (tmp_path / "run.lock").read_text().startswith("tipsomaly test")
    (tmp_path / "run.lock").write_text("tipsomaly fit (pid 1 on another-machine)\n")  # elsewhere: never assumed dead
    with pytest.raises(ResultsFolderError, match="is in use by tipsomaly fit"):
        RunFolder(tmp_path).claim("test")


def test_a_read_only_results_folder_is_refused_up_front(tmp_path):
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permissions: nothing to check here
            pytest.skip("running as a user that can write anywhere")
        with pytest.raises(ResultsFolderError, match=r"cannot be written \(.*locked is read-only for this user\)"):
            RunFolder(locked / "run").check("test", overwrite=False)
    finally:
        locked.chmod(0o700)


def test_without_the_cli_tables_and_predictions_share_one_new_run_folder(tmp_path, monkeypatch):
    """Bug 7: PredictionWriter had its own rule (the bare working folder); now every writer's default is the same."""
    from lightning_modules.callbacks import ResultsWriter
    from lightning_modules.callbacks.prediction_writer import PredictionWriter
    from tests.test_fit_and_test import _data, _module, _trainer

    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        _trainer(tmp_path, callbacks=[ResultsWriter(), PredictionWriter()]).test(_module(), datamodule=_data(tmp_path))
    runs = sorted((tmp_path / "tipsomaly_runs").iterdir())
    assert [p.name for p in runs] == ["version_0", "version_1"]
    for run in runs:
        assert {"test_results.csv", "test_predictions.csv"} <= {p.name for p in run.iterdir()}
    assert not (tmp_path / "test_predictions.csv").exists()


def test_the_models_provenance_is_written_beside_the_results(tmp_path):
    import json

    from lightning_modules.callbacks.results_writer import write_provenance

    class Model:
        def provenance(self):
            return {"backbone": {"kind": "tips"}, "image_size": [28, 28], "prompt_hash": "ab12"}

    assert write_provenance(object(), tmp_path / "none.json") == []  # a module without provenance: nothing
    (path,) = write_provenance(Model(), tmp_path / "test_provenance.json")
    assert json.loads(path.read_text()) == Model().provenance()
