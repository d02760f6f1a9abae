"""The notebooks run top to bottom (their code cells, in order, in one namespace)."""

import json
import os
from pathlib import Path

import pytest

from tests.recomputed_metrics import image_metrics_by_class

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    monkeypatch.chdir(path.parent)
    namespace: dict = {}
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{path.name}", "exec"), namespace)
    if path.name == "results.ipynb":
        _check_results_notebook(namespace)
        return
    table = namespace["model"].test_results
    assert list(table["class"]) == ["grid_texture", "round_object", "mean", "mean"]
    expected = image_metrics_by_class(namespace["model"], namespace["data"].test_datasets[0])  # sklearn on its scores
    for row in table[table["class"] != "mean"].to_dict("records"):
        assert row["image_auroc"] == pytest.approx(expected[row["class"]]["image_auroc"], abs=1e-6)
        assert row["image_ap"] == pytest.approx(expected[row["class"]]["image_ap"], abs=1e-6)
    assert table["pixel_auroc"].notna().all()
    assert os.path.isfile(Path(namespace["work"]) / "run" / "test_results.csv")
    assert os.path.isfile(Path(namespace["work"]) / "run" / "prompts" / "learnable_prompts_epoch2.pt")


def _check_results_notebook(namespace: dict) -> None:
    """results.ipynb on the two results folders it generates: Table 1 layout, paper comparison, bars, overlays."""
    table1 = namespace["table1"]
    assert list(table1.index) == ["VAND", "AnomalyCLIP", "AdaCLIP", "TIPS (paper)", "local_to_global", "global_only"]
    assert set(table1.columns.get_level_values("dataset")) == {"VisA", "KSDD"}  # our "sdd" is the paper's KSDD
    assert table1.loc["TIPS (paper)", ("VisA", "image_auroc")] == 87.7
    assert table1.loc["global_only", ("VisA", "image_auroc")] != table1.loc["local_to_global", ("VisA", "image_auroc")]
    comparison = namespace["comparison"]
    assert set(comparison["paper_dataset"]) == {"VisA", "KSDD"} and comparison["difference"].notna().all()
    assert len(namespace["charts"]) == 2 and all(chart.startswith("<svg") for chart in namespace["charts"])
    assert len(namespace["overlays"]) == 6 and "<img src='data:image/png;base64," in namespace["ImageGrid"](namespace["overlays"])._repr_html_()
