"""--wandb publishes the same comparison as a W&B Report; tested against a mocked save (no server here)."""

import json
from pathlib import Path

import pandas as pd
import pytest
import wandb_workspaces.reports.v2 as wr

from tests.report.results_folders import make_results_folder
from tipsomaly.report import collect, report_main
from tipsomaly.report.publish import wandb_report


def _runs(tmp_path):
    folders = []
    for name, run_id, n in (("a", "abc123", 4), ("b", "def456", 8)):
        folder = make_results_folder(tmp_path / name, {"visa": {"candle": 0.9}}, {"model": {"n_prompt": n}})
        (folder / "wandb" / f"offline-run-20260101_120000-{run_id}").mkdir(parents=True)
        folders.append(folder)
    return folders


def test_the_report_spec_holds_the_runs_and_panels(tmp_path):
    spec = wandb_report(collect(_runs(tmp_path)), project="tips", entity="me")
    grid = next(b for b in spec.blocks if isinstance(b, wr.PanelGrid))
    assert grid.runsets[0].project == "tips" and grid.runsets[0].filters == "Metric('ID') in ['abc123', 'def456']"
    kinds = [type(p).__name__ for p in grid.panels]
    assert kinds == ["RunComparer", "BarPlot", "LinePlot", "MediaBrowser"]
    assert grid.panels[1].metrics[0] == "test/visa/mean/image_auroc"
    assert grid.panels[2].x == "config.cli_config.model.n_prompt" and grid.panels[3].media_keys == ["test/overlays/visa/candle"]
    assert any(isinstance(b, wr.MarkdownBlock) and "87.7" in b.text for b in spec.blocks)  # the paper's VisA image AUROC


def test_wandb_flag_saves_the_report_and_prints_its_url(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.setenv("WANDB_MODE", "")
    saved = []

    def save(self, draft=False, clone=False):
        saved.append(self)
        object.__setattr__(self, "id", "Vmlldzox")  # what the server would assign
        return self

    monkeypatch.setattr(wr.Report, "save", save)
    monkeypatch.setattr(wr.Report, "url", property(lambda self: f"https://wandb.ai/{self.entity}/{self.project}/reports/{self.id}"))
    assert report_main([str(p) for p in _runs(tmp_path)] + ["--out", str(tmp_path / "r"), "--wandb", "--project", "tips", "--entity", "me"]) == 0
    assert len(saved) == 1 and saved[0].title == "tipsomaly report"
    assert "W&B report: https://wandb.ai/me/tips/reports/Vmlldzox" in capsys.readouterr().out


def test_wandb_flag_without_an_account_says_so_after_writing_the_html(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert report_main([str(p) for p in _runs(tmp_path)] + ["--out", str(tmp_path / "r"), "--wandb"]) == 2
    assert "needs a W&B account" in capsys.readouterr().err and (tmp_path / "r" / "report.html").is_file()


class FakeRun:
    """What `wandb.Api().runs(...)` yields for a run that WandbResults logged."""

    def __init__(self, run_id, table, config):
        self.id, self.config = run_id, {"cli_config": config}
        self.summary = {"test/results_table": {"path": f"media/table/{run_id}.table.json"}} if table is not None else {}
        self.table = table

    def file(self, path):
        run = self

        class File:
            def download(self, root, replace):
                target = Path(root) / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps({"columns": list(run.table.columns), "data": run.table.values.tolist()}))
                return open(target)

        return File()


def test_runs_of_a_sweep_are_collected_as_results_folders(tmp_path):
    from tipsomaly.report.wandb_runs import wandb_results_folders

    table = pd.read_csv(make_results_folder(tmp_path / "src", {"visa": {"candle": 0.9}}, overlays=False) / "test_results.csv")
    asked = []

    class Api:
        def sweep(self, path):
            asked.append(path)
            return type("Sweep", (), {"runs": [FakeRun("r1", table, {"model": {"n_prompt": 4}}), FakeRun("r2", None, {})]})()

    folders = wandb_results_folders("me/tips/sweeps/sw1", tmp_path / "out", api=Api())
    assert asked == ["me/tips/sw1"] and folders == [tmp_path / "out" / "wandb_r1"]  # r2 logged no table
    report = collect(folders)
    assert report.runs[0].settings == {"model.n_prompt": 4}
    assert report.means.set_index("dataset").loc["visa", "image_auroc"] == pytest.approx(90.0)
    with pytest.raises(ValueError, match="neither 'entity/project'"):
        wandb_results_folders("tips", tmp_path / "out", api=Api())
