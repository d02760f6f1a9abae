"""Logs a fixed number of test overlays per class to W&B: image | predicted heatmap, ground truth as a W&B mask."""

from __future__ import annotations

import numpy as np
import lightning as L
import torch

from lightning_modules.callbacks.overlay import heat_colours
from lightning_modules.callbacks.run_folder import RunFolder, WritesToRunFolder
from lightning_modules.callbacks.wandb_guard import WandbGuard, wandb_run

OVERLAY_KEY = "test/overlays"


def overlay_panel(image: torch.Tensor, anomaly_map: torch.Tensor, mask: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """image [3, S, S] in [0, 1], anomaly_map [S, S] in [0, 1], mask [S, S] of {0, 1} ->
    (uint8 [S, 2S, 3] image beside its heatmap, uint8 [S, 2S] mask repeated under both halves)."""
    rgb = (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    heat = heat_colours(anomaly_map.detach().float().cpu().numpy())
    truth = (mask.detach().cpu().numpy() > 0.5).astype(np.uint8)
    return np.concatenate([rgb, heat], axis=1), np.concatenate([truth, truth], axis=1)


class WandbImages(WritesToRunFolder, L.Callback):
    """Keeps up to ``per_class`` test images per (dataset, class) -- anomalous ones first -- and logs
    them after ``test`` as ``test/overlays/<dataset>/<class>``: each a ``wandb.Image`` of the image
    beside its predicted heatmap, with the ground-truth mask (class 1 "anomaly") as a W&B mask.

    Reads the test step's ``EvaluationOutput`` (image [B,3,S,S], anomaly_map [B,S,S], mask [B,S,S], label,
    dataset_name, class_name, is_padding). Rank 0 only, and only with a WandbLogger; a W&B failure is
    reported, not raised (naming the run folder, where the overlay files are).
    """

    def __init__(self, per_class: int = 4, results_dir: str | RunFolder | None = None):
        self._given_folder(results_dir)
        if per_class < 1:
            raise ValueError(f"per_class must be >= 1 overlays per class, got {per_class}.")
        self.per_class = per_class
        self.guard = WandbGuard(type(self).__name__)
        self.kept: dict[tuple[str, str], dict[int, list]] = {}

    def setup(self, trainer, pl_module, stage: str) -> None:
        self.folder(trainer)  # every rank agrees on the default folder here (a collective call)

    def on_test_start(self, trainer, pl_module):
        self.kept = {}

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if not trainer.is_global_zero or getattr(outputs, "anomaly_map", None) is None:
            return
        for i, (dataset, class_name) in enumerate(zip(outputs.dataset_name, outputs.class_name)):
            if outputs.is_padding[i]:
                continue  # DDP padding repeats a sample
            by_label = self.kept.setdefault((dataset, class_name), {0: [], 1: []})
            label = int(outputs.label[i] == 1)  # unknown labels (-1) count as normal
            if len(by_label[label]) < self.per_class:  # stop copying once the class has enough
                by_label[label].append(overlay_panel(outputs.image[i], outputs.anomaly_map[i], outputs.mask[i]))

    def chosen(self) -> dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]]:
        """Per (dataset, class): the overlays to log, anomalous first, at most ``per_class``."""
        return {key: (kept[1] + kept[0])[: self.per_class] for key, kept in self.kept.items()}

    def on_test_end(self, trainer, pl_module):
        run = self.guard("the run", lambda: wandb_run(trainer))
        if run is None or not self.kept:
            return
        import wandb

        def log_overlays():
            labels = {0: "normal", 1: "anomaly"}
            panels = {
                f"{OVERLAY_KEY}/{dataset}/{class_name}": [
                    wandb.Image(picture, masks={"ground_truth": {"mask_data": truth, "class_labels": labels}})
                    for picture, truth in overlays
                ]
                for (dataset, class_name), overlays in self.chosen().items()
            }
            run.log(panels)

        self.guard("the overlays", log_overlays, str(self.folder(trainer).root))
        self.kept = {}
