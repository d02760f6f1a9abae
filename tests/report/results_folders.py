"""Generated results folders in the contract's layout, for report, sweep and notebook tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from lightning_modules.metrics import ClassResult
from lightning_modules.metrics.results_table import results_table, write_results


def make_results_folder(path: Path, scores: dict[str, dict[str, float]], settings: dict | None = None, overlays: bool = True) -> Path:
    """scores: {dataset: {class: value in [0, 1]}}; every metric of a class gets that value (pixel AUPRO 0.1 less)."""
    results = [
        ClassResult(dataset, class_name, image={"auroc": v, "ap": v, "f1_max": v},
                    pixel={"auroc": v, "aupro": v - 0.1, "f1_max": v, "ap": v})
        for dataset, classes in scores.items() for class_name, v in classes.items()
    ]
    write_results(results_table(results), path / "test_results")
    (path / "config.yaml").write_text(yaml.safe_dump(settings or {}))
    if overlays:
        for dataset, classes in scores.items():
            for class_name in classes:
                for i in range(2):
                    png = path / "overlays" / dataset / class_name / f"{i:03d}.png"
                    png.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(np.full((8, 24, 3), 40 * i, np.uint8)).save(png)
    return path
