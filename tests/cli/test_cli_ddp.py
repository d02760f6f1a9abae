"""`tipsomaly test` on two CPU processes (ddp_spawn, gloo) writes the same files as one process."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tipsomaly.cli import main


def test_two_processes_write_the_same_results_predictions_and_maps(workspace):
    runs = {}
    for name, extra in (("single", []), ("ddp", ["--trainer.strategy", "ddp_spawn", "--trainer.devices", "2"])):
        runs[name] = workspace / f"test_{name}"
        status = main(
            ["test", "--config", str(workspace / "tiny.yaml"), "--results_dir", str(runs[name]), "--save_maps", "true",
             "--overlays_per_class", "2", *extra]
        )
        assert status == 0

    single, ddp = (pd.read_csv(runs[name] / "test_results.csv") for name in ("single", "ddp"))
    assert list(ddp["class"]) == ["grid_texture", "round_object", "mean", "mean"]
    pd.testing.assert_frame_equal(single, ddp, rtol=0, atol=1e-9)  # the metrics are exact under DDP

    single, ddp = (pd.read_csv(runs[name] / "test_predictions.csv") for name in ("single", "ddp"))
    assert len(ddp) == 10  # every image once: no DDP padding repeat, none lost
    pd.testing.assert_frame_equal(single, ddp, rtol=1e-6, atol=1e-6)

    for class_name in ("grid_texture", "round_object"):
        one, two = (np.load(runs[name] / "maps" / "target" / f"{class_name}.npz") for name in ("single", "ddp"))
        assert list(one["image_paths"]) == list(two["image_paths"])
        np.testing.assert_allclose(one["maps"].astype(np.float32), two["maps"].astype(np.float32), atol=1e-3)
        assert not list((runs["ddp"] / "maps" / "target").glob("*.rank*.npz"))  # shards merged away
        overlays = [sorted(p.name for p in (runs[name] / "overlays" / "target" / class_name).glob("*.png"))
                    for name in ("single", "ddp")]
        assert overlays[0] == overlays[1] and len(overlays[0]) == 2  # the same images, whatever the split
