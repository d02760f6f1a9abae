"""benchmarks/gpu.py starts and runs every stage on the CPU (`--cpu-smoke`), so a GPU session only has to run it."""

from __future__ import annotations

from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_the_gpu_benchmark_runs_every_stage_on_the_cpu_and_prints_one_summary(capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # as `python benchmarks/gpu.py` runs: beside harness.py
    gpu = pytest.importorskip("gpu")
    assert gpu.main(["--cpu-smoke"]) == 0
    lines = capsys.readouterr().out.splitlines()
    summaries = [line for line in lines if line.startswith("SUMMARY gpu ")]
    assert len(summaries) == 1 and summaries[0] == lines[-1]
    fields = dict(field.split("=", 1) for field in summaries[0].split()[2:])
    normal, anomalous = gpu.SMOKE.test_images
    images = 2 * (normal + anomalous)  # two classes
    assert (fields["mode"], fields["skipped"], int(fields["test_images"])) == ("cpu-smoke", "none", images)
    assert int(fields["test_steps"]) == -(-images // gpu.SMOKE.test_batch)  # the clock saw every test step
    fit_steps = 2 * -(-2 * sum(gpu.SMOKE.fit_images) // gpu.SMOKE.fit_batch)  # two epochs
    assert int(fields["fit_off_steps"]) == int(fields["fit_memory_steps"]) == fit_steps
    for key in ("peak_tflops", "tower_b2_img_s", "tower_b4_mfu", "fit_memory_epoch2_s", "cache_speedup"):
        assert float(fields[key]) > 0, key  # measured, not left out
    assert 0 <= float(fields["gpu_idle"]) < 1
