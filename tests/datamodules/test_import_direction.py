"""The data package is the lower layer: importing it (and using it) never imports the model side."""

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_importing_datamodules_imports_no_lightning_modules(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        import datamodules
        from datamodules import AnomalyDataModule, AnomalyDataset, make_synthetic_dataset
        from datamodules import regions, summary, atomic_files, few_shot  # modules the model side uses
        root = make_synthetic_dataset(r"{tmp_path}", classes=("grid_texture",), n_normal=1, n_anomalous=1, image_size=32)
        item = AnomalyDataset.from_spec(datamodules.DatasetSpec(name="s", format="mvtec", root=str(root)), image_size=28)[1]
        loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("lightning_modules", "tipsomaly"))
        print("LOADED", loaded, float(item.region_weights.sum()))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("LOADED"))
    assert line.startswith("LOADED []"), line
    assert float(line.split()[-1]) >= 1.0  # the anomalous item's region weights were computed, in the data package


def test_metrics_regions_is_the_data_package_definition():
    from datamodules import regions as data_regions
    from lightning_modules.metrics import regions as metric_regions

    assert metric_regions.region_weights is data_regions.region_weights
    assert metric_regions.region_sizes_from_weights is data_regions.region_sizes_from_weights
