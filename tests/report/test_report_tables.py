"""What a report's tables show: the swept settings only, one dataset without a repeated mean, seeds as mean ± std,
the AUPRO definitions beside the paper, and the LaTeX table read back."""

import math
import re

import pytest

from tests.report.results_folders import make_results_folder
from tipsomaly.report import build_report, collect


def test_loose_folders_sweep_only_model_and_data_settings_never_logging_cache_or_paths(tmp_path):
    def settings(sigma, run_id, cache, maps):
        return {"model": {"sigma": sigma, "feature_cache": cache, "feature_cache_dir": f"/c/{run_id}", "prompt_checkpoint": f"/p/{run_id}.pt"},
                "data": {"image_size": 28, "image_cache_dir": f"/i/{run_id}", "num_workers": 2 if maps else 0},
                "trainer": {"logger": {"init_args": {"id": run_id, "save_dir": f"/w/{run_id}"}}, "max_epochs": 1},
                "save_maps": maps, "results_dir": f"/r/{run_id}"}

    folders = [make_results_folder(tmp_path / name, {"visa": {"candle": v}}, settings(sigma, name, cache, maps), overlays=False)
               for name, v, sigma, cache, maps in (("a", 0.6, 2.0, "disk", True), ("b", 0.7, 4.0, "memory", False))]
    assert collect(folders).swept == ["model.sigma"]


def test_one_dataset_has_one_row_per_run_and_no_repeated_mean(tmp_path):
    folders = [make_results_folder(tmp_path / f"n{n}", {"visa": {"candle": v, "pcb1": v}}, {"model": {"n_prompt": n}}, overlays=False)
               for n, v in ((4, 0.6), (8, 0.7))]
    _, md = build_report(folders, tmp_path / "r")
    results = md.read_text().split("\n## Results\n")[1].split("## Best")[0]
    assert "### Results on visa (dataset means, percent; best in bold)" in results
    rows = [line for line in results.splitlines() if line.startswith("| n")]
    assert rows == ["| n4 | 4 | 60.0 | 60.0 | 60.0 | 60.0 | 50.0 | 60.0 | 60.0 |",
                    "| n8 | 8 | **70.0** | **70.0** | **70.0** | **70.0** | **60.0** | **70.0** | **70.0** |"]
    assert "| mean |" not in results


def _seeded(tmp_path):
    """k = 1 with seeds 0, 1, 2 and k = 4 with seeds 0, 1 (a few-shot protocol's k x seed)."""
    values = {(1, 0): 0.50, (1, 1): 0.60, (1, 2): 0.70, (4, 0): 0.80, (4, 1): 0.90}
    return [make_results_folder(tmp_path / f"k{k}_s{seed}", {"visa": {"candle": v}, "sdd": {"sdd": v}},
                                {"model": {"few_shot": {"k": k, "seed": seed}}, "seed_everything": seed}, overlays=False)
            for (k, seed), v in values.items()]


def test_runs_that_differ_only_by_seed_are_aggregated_as_mean_and_sample_std(tmp_path):
    report = collect(_seeded(tmp_path))
    assert report.swept == ["model.few_shot.k"] and report.seeds == ["model.few_shot.seed", "seed_everything"]
    visa = report.results[report.results["dataset"] == "visa"].set_index("run")
    assert list(visa.index) == ["k1_s0+k1_s1+k1_s2", "k4_s0+k4_s1"] and list(visa["seeds"]) == [3, 2]
    assert visa.loc["k1_s0+k1_s1+k1_s2", "image_auroc"] == pytest.approx(60.0)
    assert visa.loc["k1_s0+k1_s1+k1_s2", "image_auroc_std"] == pytest.approx(10.0)  # sample std of 50, 60, 70
    assert visa.loc["k4_s0+k4_s1", "pixel_aupro"] == pytest.approx(75.0)
    assert visa.loc["k4_s0+k4_s1", "pixel_aupro_std"] == pytest.approx(math.sqrt(50.0))  # 70, 80
    _, md = build_report(_seeded(tmp_path / "again"), tmp_path / "r")
    text = md.read_text()
    assert "### k4_s0+k4_s1 (model.few_shot.k=4, 2 seeds)" in text
    assert "| visa | **85.0 ± 7.1** | **85.0 ± 7.1** |" in text and "| visa | 60.0 ± 10.0 |" in text
    paper = report.paper.set_index(["run", "dataset", "metric"])
    assert paper.loc[("k4_s0+k4_s1", "visa", "image_auroc"), "ours"] == pytest.approx(85.0)  # the mean over seeds


def test_runs_with_equal_settings_but_no_seed_difference_stay_apart(tmp_path):
    folders = [make_results_folder(tmp_path / n, {"visa": {"candle": v}}, {"model": {"sigma": 4.0}}, overlays=False)
               for n, v in (("a", 0.5), ("b", 0.6))]
    assert list(collect(folders).results["run"].unique()) == ["a", "b"]


def test_the_paper_comparison_names_each_sides_aupro_definition(tmp_path):
    folders = [make_results_folder(tmp_path / "ours_mvtec", {"visa": {"candle": 0.9}}, {"model": {"aupro": "mvtec"}}, overlays=False),
               make_results_folder(tmp_path / "ours_ref", {"visa": {"candle": 0.9}}, {"model": {"aupro": "reference"}}, overlays=False),
               make_results_folder(tmp_path / "unset", {"visa": {"candle": 0.9}}, {}, overlays=False)]
    paper = collect(folders).paper
    aupro = paper[paper["metric"] == "pixel_aupro"].set_index("run")["definitions"]
    assert aupro.to_dict() == {"ours_mvtec": "ours mvtec, paper reference", "ours_ref": "ours reference, paper reference",
                               "unset": "ours mvtec, paper reference"}  # the model's default
    assert set(paper.loc[paper["metric"] != "pixel_aupro", "definitions"]) == {""}
    html, _ = build_report(folders, tmp_path / "r")
    assert "the paper&#x27;s numbers come from its code&#x27;s own &#x27;reference&#x27; AUPRO" in html.read_text()


def _parse_latex(text: str) -> dict[str, dict[str, list[str]]]:
    """caption -> {row label: cells}, from the booktabs tables (the text itself; no TeX needed)."""
    tables = {}
    for block in text.split(r"\begin{table}")[1:]:
        assert block.count(r"\toprule") == 1 and block.count(r"\bottomrule") == 1 and r"\begin{tabular}{lrrrrrr}" in block
        caption = re.search(r"\\caption\{(.*)\}", block).group(1)
        body = block.split(r"\midrule", 1)[1].split(r"\bottomrule")[0]
        rows = {}
        for line in [l for l in body.replace(r"\midrule", "").splitlines() if l.strip()]:
            assert line.endswith(r" \\")
            label, *cells = [c.strip() for c in line[: -len(r" \\")].split("&")]
            rows[label] = cells
        tables[caption] = rows
    return tables


def test_latex_is_booktabs_in_table1_columns_and_reads_back_to_the_means(tmp_path):
    folders = _seeded(tmp_path)
    paths = build_report(folders, tmp_path / "r", latex=True)
    text = paths[2].read_text()
    assert paths[2].name == "report.tex"
    assert "Dataset & AUROC & AP & F1-max & AUROC & AUPRO & F1-max \\\\" in text
    tables = _parse_latex(text)
    k4 = tables[r"k4\_s0+k4\_s1: zero-shot results (\%, mean $\pm$ std over 2 seeds; AUPRO: mvtec)"]
    assert list(k4) == ["VisA", "KSDD", "Mean"]  # the paper's names, the mean over datasets last
    assert k4["VisA"] == [r"\textbf{85.0 $\pm$ 7.1}"] * 4 + [r"\textbf{75.0 $\pm$ 7.1}", r"\textbf{85.0 $\pm$ 7.1}"]
    k1 = tables[r"k1\_s0+k1\_s1+k1\_s2: zero-shot results (\%, mean $\pm$ std over 3 seeds; AUPRO: mvtec)"]
    means = collect(folders).results.set_index(["run", "dataset"])
    assert float(k1["KSDD"][4].split(" ")[0]) == pytest.approx(round(means.loc[("k1_s0+k1_s1+k1_s2", "sdd"), "pixel_aupro"], 1))


def test_latex_with_one_dataset_has_no_mean_row(tmp_path):
    folder = make_results_folder(tmp_path / "a_b", {"visa": {"candle": 0.9}}, overlays=False)
    text = build_report([folder], tmp_path / "r", latex=True)[2].read_text()
    assert _parse_latex(text) == {r"a\_b: zero-shot results (\%; AUPRO: mvtec)": {"VisA": ["90.0"] * 4 + ["80.0", "90.0"]}}
