"""`tipsomaly demo` (what `make demo` runs), shortened: the whole pipeline and its report."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from tipsomaly.cli import main


def test_the_demo_fits_tests_zero_and_few_shot_and_reports_them_side_by_side(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "2", "--image_size", "28"]) == 0
    printed = capsys.readouterr().out
    assert "RANDOM" in printed  # says plainly that the weights mean nothing
    for folder, stage in (("fit", "fit"), ("test_fixed", "test"), ("test_learned", "test"), ("test_few_shot", "test"), ("test_few_shot_only", "test")):
        assert (out / folder / f"config_{stage}.yaml").is_file()
    assert "Traceback" not in printed
    fixed = pd.read_csv(out / "test_fixed" / "test_results.csv")
    learned = pd.read_csv(out / "test_learned" / "test_results.csv")
    few = [pd.read_csv(out / name / "test_results.csv")["pixel_auroc"].iloc[-1] for name in ("test_few_shot", "test_few_shot_only")]
    means = [fixed["pixel_auroc"].iloc[-1], learned["pixel_auroc"].iloc[-1], *few]
    assert re.search(r"\n\s*mean" + "".join(rf"\s+{value:.1f}" for value in means) + r"\n", printed)
    assert (out / "test_few_shot" / "few_shot_references.json").is_file()
    assert re.search(r"epoch 1: \d\.\d{4}  epoch 2: \d\.\d{4}", printed)
    assert "tipsomaly fit  --config configs/mvtec_to_all.yaml" in printed

    # run again: the demo clears its own folder instead of refusing
    assert main(["demo", "--out", str(out), "--epochs", "1", "--image_size", "28"]) == 0


def test_the_demo_never_clears_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "thesis.tex").write_text("years of work")
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--out", str(tmp_path)])
    assert "is not empty and was not made by the demo" in str(exit_info.value.code)
    assert (tmp_path / "thesis.tex").read_text() == "years of work"
