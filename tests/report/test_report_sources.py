"""Where a report's numbers come from: a sweep folder's points, the test stage's config, the provenance file,
and inputs that are wrong in a way the user must see (one line, or a visible warning; never a silent "-")."""

import json

import pytest
import yaml

from tests.report.results_folders import make_results_folder
from tests.sweep.fake_cli import FakeMain, sweep_file
from tipsomaly.report import build_report, collect, report_main
from tipsomaly.sweep import sweep_main


@pytest.fixture
def sweep_out(tmp_path, monkeypatch):
    """A finished 3-point sweep (fake fit/test) of n_prompt x lr: the folder `tipsomaly sweep run --out` leaves."""
    monkeypatch.setattr("tipsomaly.cli.main", FakeMain())
    path = sweep_file(tmp_path, {"model.n_prompt": {"values": [4, 8, 16]}, "model.lr": {"value": 0.01}})
    assert sweep_main(["run", str(path), "--out", str(tmp_path / "sweep")]) == 0
    return tmp_path / "sweep"


def test_a_sweep_folder_stands_for_its_points_with_the_sweeps_parameters(sweep_out, tmp_path):
    # a config key that differs by accident between the points is not a swept parameter
    config = sweep_out / "run001" / "test" / "config.yaml"
    config.write_text(yaml.safe_dump({"model": {"sigma": 2.0, "n_prompt": 8}}))
    report = collect([sweep_out])
    assert [r.name for r in report.runs] == ["run000", "run001", "run002"]
    assert report.swept == ["model.n_prompt"]  # lr is one value; sigma was never swept
    visa = report.means[report.means["dataset"] == "visa"].set_index("run")["image_auroc"]
    assert visa.to_dict() == pytest.approx({"run000": 54.0, "run001": 58.0, "run002": 66.0})
    assert report_main([str(sweep_out), "--out", str(tmp_path / "r")]) == 0


def test_a_sweep_folders_unfinished_point_is_named_not_dropped_silently(sweep_out, capsys):
    (sweep_out / "run002" / "test" / "test_results.csv").unlink()
    report = collect([sweep_out])
    assert [r.name for r in report.runs] == ["run000", "run001"]
    assert any("run002 have no test results (unfinished points)" in w for w in report.warnings)


def test_the_test_stages_config_and_provenance_are_read(tmp_path):
    folder = make_results_folder(tmp_path / "run", {"visa": {"candle": 0.9}}, {"model": {"sigma": 4.0}}, overlays=False)
    (folder / "config.yaml").unlink()
    (folder / "config_fit.yaml").write_text(yaml.safe_dump({"model": {"sigma": 4.0}}))
    (folder / "config_test.yaml").write_text(yaml.safe_dump({"model": {"sigma": 2.0, "aupro": "reference"}, "data": {
        "image_size": 56, "test_sets": [{"name": "visa", "root": "/data/VisA_20220922"}]}}))
    (folder / "test_provenance.json").write_text(json.dumps({
        "backbone": {"kind": "tips", "label": "tips_tiny_mlp", "fingerprint": "0123456789abcdef99", "source": ["v.npz"]},
        "image_size": [56, 56], "prompt_hash": "fedcba9876543210aa"}))
    report = collect([folder])
    assert report.runs[0].settings["model.sigma"] == 2.0 and report.runs[0].config_file.name == "config_test.yaml"
    row = report.header["runs"][0]
    assert row == {"run": "run", "backbone": "tips_tiny_mlp", "weights": "0123456789ab", "image size": "56x56",
                   "prompt hash": "fedcba987654", "aupro": "reference", "data roots": "/data/VisA_20220922",
                   "from": "test_provenance.json"}
    assert report.header["caveat"].startswith("Random weights: run scored with a backbone of random weights")
    assert report.header["version"] == "0.1.0" and report.header["date"].endswith("UTC")
    html, md = build_report([folder], tmp_path / "r")
    assert "<p class='caveat'><b>Caveat.</b> Random weights" in html.read_text()
    assert "> **Caveat.** Random weights: run scored" in md.read_text()
    assert f"tipsomaly {report.header['version']} (commit {report.header['commit']})" in md.read_text()


def test_without_provenance_the_config_names_the_backbone_and_real_weights_get_no_caveat(tmp_path):
    folder = make_results_folder(tmp_path / "official", {"visa": {"candle": 0.9}}, {"model": {"backbone": {
        "vision_checkpoint": "/models/tips_oss_s14_highres_distilled_vision.npz"}}, "data": {"image_size": 448}}, overlays=False)
    report = collect([folder])
    row = report.header["runs"][0]
    assert (row["backbone"], row["weights"], row["image size"], row["from"]) == (
        "tips_oss_s14_highres_distilled", "not recorded", "448", "config.yaml")
    assert report.header["caveat"] == ""


def test_an_empty_results_table_is_one_clear_line(tmp_path, capsys):
    folder = make_results_folder(tmp_path / "run", {"visa": {"candle": 0.9}}, overlays=False)
    (folder / "test_results.csv").write_text("")
    assert report_main([str(folder), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"tipsomaly report: error: '{folder / 'test_results.csv'}' is empty: the test run that wrote it did not "
                   f"finish; rerun `tipsomaly test` into '{folder}' (with --overwrite true), or leave the folder out.")


def test_a_truncated_results_table_is_a_visible_warning_not_a_silent_dash(tmp_path, capsys):
    folder = make_results_folder(tmp_path / "run", {"visa": {"candle": 0.9, "pcb1": 0.8}}, overlays=False)
    text = (folder / "test_results.csv").read_text()
    (folder / "test_results.csv").write_text(text[: text.index("\nvisa,mean") + 12])  # cut inside the visa mean row
    assert report_main([str(folder), "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert "tipsomaly report: warning: " in err and "does not end with a complete line: the table is truncated" in err
    assert "has no mean-over-datasets row" in err
    html = (tmp_path / "r" / "report.html").read_text()
    assert "<div class='warnings'><b>Warnings</b>" in html and "is truncated" in html


def test_a_corrupt_config_is_a_visible_warning(tmp_path, capsys):
    folder = make_results_folder(tmp_path / "run", {"visa": {"candle": 0.9}}, overlays=False)
    (folder / "config.yaml").write_text("model: {n_prompt: [4\n")
    assert report_main([str(folder), "--out", str(tmp_path / "r")]) == 0
    assert f"'{folder / 'config.yaml'}' is not valid YAML" in capsys.readouterr().err
    assert "settings are left out of the report" in (tmp_path / "r" / "report.md").read_text()


def test_report_out_that_is_a_file_is_one_line_before_any_work(tmp_path, capsys):
    folder = make_results_folder(tmp_path / "run", {"visa": {"candle": 0.9}}, overlays=False)
    (tmp_path / "taken").write_text("mine")
    assert report_main([str(folder), "--out", str(tmp_path / "taken")]) == 2
    assert capsys.readouterr().err.strip() == (f"tipsomaly report: error: --out '{tmp_path / 'taken'}' is a file; give a folder "
                                               "for report.html, report.md, plots/ and overlays/.")
    assert (tmp_path / "taken").read_text() == "mine"
