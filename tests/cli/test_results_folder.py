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
    with pytest.raises(ResultsFolderError, match=r"already holds fit results .*\(prompts\); pass --overwrite true"):
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
