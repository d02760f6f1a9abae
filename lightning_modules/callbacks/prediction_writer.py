"""`PredictionWriter`: per-image results of `test` / `predict` on disk, gathered to rank 0 under DDP.

    <results_dir>/test_predictions.csv (test) or predictions.csv (predict)
        dataset, class, image_path, label, pred_score, score_first, score_second, max_pixel_score
        one row per image, ordered by test set then samples-table row: identical for any number of processes.
    <results_dir>/maps/<dataset>/<class>.npz            (save_maps) float16 maps [N, S, S], image_paths, labels
    <results_dir>/overlays/<dataset>/<class>/<stem>.png  image | heatmap | ground-truth contour, at most
        `overlays_per_class` per class: anomalous images first, then by samples-table row.

It reads the `EvaluationOutput` that `Tipsomaly.test_step` / `predict_step` return (per-image dataset_name,
class_name, image_path, is_padding, label, scores, anomaly_map, mask, has_mask, image) and the batch's `index`.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Optional

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from PIL import Image

from .overlay import render_overlay

COLUMNS = ["dataset", "class", "image_path", "label", "pred_score", "score_first", "score_second", "max_pixel_score"]
SCORES = COLUMNS[4:]
_ORDER = ["_set", "_row"]  # test-set position, samples-table row


def _numbers(values: Any) -> list:
    if isinstance(values, torch.Tensor):
        return values.detach().float().cpu().tolist()
    return list(values)


class PredictionWriter(L.Callback):
    """Write per-image scores, and optionally anomaly maps and overlays, after `test` and `predict`.

    Args:
        results_dir: the run's results folder (None: the trainer's log dir).
        save_maps: also write the float16 anomaly maps, one .npz per dataset and class (test; predict always
            writes its overlays but maps only with this).
        overlays_per_class: overlay PNGs per (dataset, class); 0 writes none.
    """

    def __init__(
        self, results_dir: Optional[str] = None, save_maps: bool = False, overlays_per_class: int = 4, image_threshold: Optional[float] = None
    ):
        if overlays_per_class < 0:
            raise ValueError(f"overlays_per_class must be >= 0, got {overlays_per_class}.")
        self.image_threshold = image_threshold  # with calibrated thresholds: a `decision` column (score >= threshold)
        self.results_dir = results_dir
        self.save_maps = save_maps
        self.overlays_per_class = overlays_per_class
        self._reset()

    def _reset(self) -> None:
        self._rows: list[dict] = []
        self._maps: dict[tuple, list] = defaultdict(list)  # (set, dataset, class) -> [(row, path, label, map)]
        self._overlays: dict[tuple, list] = defaultdict(list)  # (set, dataset, class) -> candidates

    def _folder(self, trainer: L.Trainer) -> Path:
        return Path(self.results_dir or trainer.log_dir or trainer.default_root_dir)

    # -- collecting -----------------------------------------------------------------------------
    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self._reset()

    def on_predict_epoch_start(self, trainer, pl_module) -> None:
        self._reset()

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._collect(outputs, batch, dataloader_idx)

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._collect(outputs, batch, dataloader_idx)

    def _collect(self, outputs, batch, dataloader_idx: int) -> None:
        if outputs is None:
            raise TypeError("PredictionWriter needs the EvaluationOutput that test_step / predict_step return; got None.")
        size = len(outputs.image_path)
        padding = list(outputs.is_padding or [False] * size)
        rows = _numbers(batch.index)
        labels = [int(v) for v in _numbers(outputs.label)]
        scores = {name: _numbers(getattr(outputs, name)) for name in SCORES}
        keep_maps = self.save_maps or self.overlays_per_class > 0
        maps = outputs.anomaly_map.detach().float().cpu().numpy() if keep_maps else None
        for i in range(size):
            if padding[i]:  # a DDP repeat, already counted on another rank
                continue
            key = (dataloader_idx, outputs.dataset_name[i], outputs.class_name[i])
            self._rows.append(
                {"_set": dataloader_idx, "_row": int(rows[i]), "dataset": key[1], "class": key[2],
                 "image_path": outputs.image_path[i], "label": labels[i], **{n: scores[n][i] for n in SCORES}}
            )
            if self.save_maps:
                self._maps[key].append((int(rows[i]), outputs.image_path[i], labels[i], maps[i].astype(np.float16)))
            if self.overlays_per_class:
                self._offer_overlay(key, int(rows[i]), labels[i], outputs, i, maps[i])

    def _offer_overlay(self, key, row: int, label: int, outputs, i: int, anomaly_map: np.ndarray) -> None:
        """Keep this rank's first `overlays_per_class` candidates by (anomalous first, row): the union over ranks
        then holds the global first ones, so the choice does not depend on the number of processes."""
        candidate = {
            "order": (label != 1, row), "path": outputs.image_path[i],
            "image": outputs.image[i].detach().float().cpu().numpy(),
            "map": anomaly_map.astype(np.float16),
            "mask": outputs.mask[i].detach().cpu().numpy() > 0.5 if bool(outputs.has_mask[i]) else None,
        }
        kept = sorted([*self._overlays[key], candidate], key=lambda c: c["order"])
        self._overlays[key] = kept[: self.overlays_per_class]

    # -- writing ------------------------------------------------------------------------------
    def on_test_epoch_end(self, trainer, pl_module) -> None:
        self._write(trainer, "test_predictions.csv")

    def on_predict_epoch_end(self, trainer, pl_module) -> None:
        self._write(trainer, "predictions.csv")

    def _write(self, trainer: L.Trainer, csv_name: str) -> None:
        folder = Path(trainer.strategy.broadcast(str(self._folder(trainer))))
        rows = _gather(self._rows)
        overlays = _gather(dict(self._overlays))
        if self.save_maps:
            self._write_map_shards(folder, trainer.global_rank, trainer.world_size)
        if trainer.world_size > 1 and dist.is_available() and dist.is_initialized():
            dist.barrier()  # every rank's map shards are on disk
        if trainer.is_global_zero:
            table = pd.DataFrame([row for part in rows for row in part], columns=[*_ORDER, *COLUMNS])
            table = table.sort_values(_ORDER, kind="stable")[COLUMNS]
            if self.image_threshold is not None:
                table["decision"] = np.where(table["pred_score"] >= self.image_threshold, "anomalous", "normal")
            folder.mkdir(parents=True, exist_ok=True)
            table.to_csv(folder / csv_name, index=False)
            if self.save_maps:
                self._merge_map_shards(folder, trainer.world_size)
            self._write_overlays(folder, overlays)
            few_shot = getattr(trainer.lightning_module, "few_shot", None)  # few-shot mode: which images formed each bank
            if few_shot is not None:
                few_shot.write_references(folder)
        self._reset()

    def _write_map_shards(self, folder: Path, rank: int, world_size: int) -> None:
        for (_, dataset, class_name), entries in self._maps.items():
            path = folder / "maps" / dataset / f"{class_name}.rank{rank}.npz"
            path.parent.mkdir(parents=True, exist_ok=True)
            rows, paths, labels, maps = zip(*entries)
            np.savez(path, rows=np.array(rows), image_paths=np.array(paths), labels=np.array(labels),
                     maps=np.stack(maps))

    def _merge_map_shards(self, folder: Path, world_size: int) -> None:
        """One `<class>.npz` per dataset and class from the ranks' shards, rows in samples-table order."""
        for dataset_dir in sorted((folder / "maps").glob("*")):
            shards: dict[str, list[Path]] = defaultdict(list)
            for shard in dataset_dir.glob("*.rank*.npz"):
                shards[shard.name.rsplit(".rank", 1)[0]].append(shard)
            for class_name, paths in shards.items():
                parts = [dict(np.load(path)) for path in paths]
                merged = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
                order = np.argsort(merged.pop("rows"), kind="stable")
                np.savez_compressed(dataset_dir / f"{class_name}.npz", **{k: v[order] for k, v in merged.items()})
                for path in paths:
                    os.remove(path)

    def _write_overlays(self, folder: Path, gathered: list[dict]) -> None:
        merged: dict[tuple, list] = defaultdict(list)
        for part in gathered:
            for key, candidates in part.items():
                merged[key] += candidates
        for (_, dataset, class_name), candidates in merged.items():
            chosen = sorted(candidates, key=lambda c: c["order"])[: self.overlays_per_class]
            target = folder / "overlays" / dataset / class_name
            target.mkdir(parents=True, exist_ok=True)
            used: set[str] = set()
            for candidate in chosen:
                path = Path(candidate["path"])
                # MVTec repeats stems across defect folders (hole/000.png, scratch/000.png): prefix the folder then
                stem = path.stem if path.stem not in used else f"{path.parent.name}_{path.stem}"
                used.add(stem)
                picture = render_overlay(candidate["image"], candidate["map"].astype(np.float32), candidate["mask"])
                Image.fromarray(picture).save(target / f"{stem}.png")


def _gather(value: Any) -> list:
    """[value of rank 0, value of rank 1, ...] on every rank; [value] without a process group."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [value]
    parts: list = [None] * dist.get_world_size()
    dist.all_gather_object(parts, value)
    return parts


__all__ = ["COLUMNS", "PredictionWriter"]
