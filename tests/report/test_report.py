"""The report is a pure function from results folders to HTML and Markdown."""

import pandas as pd
import pytest

from tests.report.results_folders import make_results_folder
from tipsomaly.report import build_report, collect, compare_with_paper, paper_name, paper_table, report_main


@pytest.fixture
def two_runs(tmp_path):
    first = make_results_folder(tmp_path / "n4", {"visa": {"candle": 0.9, "pcb1": 0.7}, "sdd": {"sdd": 0.95}},
                                {"model": {"n_prompt": 4, "lr": 0.001}, "data": {"root": "a"}})
    second = make_results_folder(tmp_path / "n8", {"visa": {"candle": 0.8, "pcb1": 0.9}, "sdd": {"sdd": 0.85}},
                                 {"model": {"n_prompt": 8, "lr": 0.001}, "data": {"root": "b"}})
    return first, second


def test_report_compares_runs_best_run_and_paper(two_runs):
    report = collect(two_runs)
    assert report.swept == ["model.n_prompt"]  # lr is equal, data roots are paths
    visa = report.means[report.means["dataset"] == "visa"].set_index("run")
    assert visa.loc["n4", "image_auroc"] == pytest.approx(80.0) and visa.loc["n8", "image_auroc"] == pytest.approx(85.0)
    best = report.best.set_index(["dataset", "metric"])
    assert best.loc[("visa", "pixel_aupro"), "run"] == "n8" and best.loc[("sdd", "image_auroc"), "run"] == "n4"
    paper = report.paper.set_index(["run", "dataset", "metric"])
    # Table 1: TIPS on VisA image AUROC 87.7; on KSDD (= our SDD set) image AUROC from the same table
    assert paper.loc[("n8", "visa", "image_auroc"), "difference"] == pytest.approx(85.0 - 87.7)
    ksdd = paper_table().query("method == 'TIPS (paper)' and dataset == 'KSDD' and column == 'image_auroc'")["value"].item()
    assert paper.loc[("n4", "sdd", "image_auroc"), "paper"] == ksdd
    assert paper.loc[("n4", "sdd", "image_auroc"), "paper_dataset"] == "KSDD"
    assert set(report.plots) == {"classes_visa_pixel_aupro", "classes_sdd_pixel_aupro", "sweep_model.n_prompt_pixel_aupro"}
    assert len(report.overlays) == 6  # one per run and class


def test_build_writes_self_contained_html_and_markdown(two_runs, tmp_path):
    html, md = build_report(two_runs, tmp_path / "report")
    page = html.read_text()
    assert page.count("<svg") == 3 and page.count("data:image/png;base64,") == 6 and "src='overlays" not in page
    assert "Against the paper" in page and "KSDD" in page
    text = md.read_text()
    assert "![classes_visa_pixel_aupro](plots/classes_visa_pixel_aupro.svg)" in text
    assert (tmp_path / "report" / "plots" / "classes_visa_pixel_aupro.svg").read_text().startswith("<svg")
    # several datasets: a datasets x metrics table per run, the best of each dataset and metric in bold
    n4 = text.split("### n4 (model.n_prompt=4)")[1].split("###")[0]
    n8 = text.split("### n8 (model.n_prompt=8)")[1].split("##")[0]
    assert "| visa | 80.0 | 80.0 | 80.0 | 80.0 | 70.0 | 80.0 | 80.0 |" in n4 and "| sdd | **95.0** |" in n4
    assert "| visa | **85.0** | **85.0** |" in n8 and "| sdd | 85.0 | 85.0 |" in n8 and "| mean | 85.0 |" in n8
    assert "<td><b>85.0</b></td>" in page
    assert "| visa | n8 (85.0) | n8 (85.0) |" in text  # best run per dataset and metric, datasets x metrics
    # against Table 1: ours / paper (difference) per metric, TIPS on VisA: image AUROC 87.7, pixel AUPRO 88.2
    assert "| n8 | visa = VisA | 85.0 / 87.7 (-2.7) |" in text and "75.0 / 88.2 (-13.2) | 85.0 / 31.5 (+53.5) | ours mvtec, paper reference |" in text
    for line in [l for l in text.splitlines() if l.startswith("![0")]:
        assert (tmp_path / "report" / line.split("(")[1].rstrip(")")).is_file()


def test_paper_names_follow_the_papers_mapping():
    assert [paper_name(n) for n in ("SDD", "ksdd", "DTD-Synthetic", "mvtec", "VisA", "my_set")] == ["KSDD", "KSDD", "DTD", "MVTec", "VisA", None]
    table = paper_table()
    assert set(table["method"]) == {"VAND", "AnomalyCLIP", "AdaCLIP", "TIPS (paper)"}
    assert table.query("method == 'TIPS (paper)' and dataset == 'MVTec' and column == 'image_auroc'")["value"].item() == 93.4


def test_a_set_the_paper_did_not_test_is_left_out():
    means = pd.DataFrame([{"run": "r", "dataset": "my_set", "image_auroc": 50.0}])
    assert compare_with_paper(means).empty


def test_command_line_writes_report_and_rejects_a_folder_without_results(two_runs, tmp_path, capsys):
    assert report_main([str(p) for p in two_runs] + ["--out", str(tmp_path / "r"), "--metric", "image_auroc"]) == 0
    assert (tmp_path / "r" / "plots" / "classes_visa_image_auroc.svg").is_file()
    assert report_main([str(tmp_path / "empty"), "--out", str(tmp_path / "r2")]) == 2
    assert "has no test_results.csv" in capsys.readouterr().err


def test_a_swept_number_is_plotted_in_numeric_order(tmp_path):
    folders = [make_results_folder(tmp_path / f"n{n}", {"visa": {"candle": v}}, {"model": {"n_prompt": n}}, overlays=False)
               for n, v in ((16, 0.9), (4, 0.5), (8, 0.7))]
    svg = collect(folders).plots["sweep_model.n_prompt_pixel_aupro"]
    labels = [part.split(">")[1].split("<")[0] for part in svg.split("rotate(30)")[1:]]
    assert labels == ["4", "8", "16"]
    assert svg.index("visa: 40.0") < svg.index("visa: 60.0") < svg.index("visa: 80.0")  # AUPRO = value - 10 points
