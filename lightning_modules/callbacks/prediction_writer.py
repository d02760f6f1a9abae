"""`PredictionWriter`: per-image results of `test` / `predict` on disk, gathered to rank 0 under DDP.

    <run folder>/test_predictions.csv (test) or predictions.csv (predict)
        dataset, class, image_path, label, pred_score, score_first, score_second, max_pixel_score[, decision]
        one row per image, ordered by test set then samples-table row: identical for any number of processes.
    <run folder>/predict_provenance.json (predict) what scored (`model.provenance()`)
    <run folder>/maps/<dataset>/<class>.npz            (save_maps) float16 maps [N, S, S], image_paths, labels
    <run folder>/overlays/<dataset>/<class>/<defect>_<stem>.png  image | heatmap | ground-truth contour, the
        score (and decision) written under it, each panel at the image's own aspect ratio; at most
        `overlays_per_class` per class. test (with save_maps): anomalous images first, then by samples-table row.
        predict: highest score first; with thresholds, the images judged anomalous first.

Every file is written under a temporary name and renamed when whole (datamodules.atomic_files).

It reads the `EvaluationOutput` that `Tipsomaly.test_step` / `predict_step` return (per-image dataset_name,
class_name, image_path, is_padding, label, scores, anomaly_map, mask, has_mask, image) and the batch's `index`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any, Optional

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from lightning.pytorch.utilities import rank_zero_warn
from PIL import Image

from datamodules.atomic_files import atomic_path, write_text_atomic

from .overlay import overlay_name, render_overlay
from .run_folder import RunFolder, WritesToRunFolder

COLUMNS = ["dataset", "class", "image_path", "label", "pred_score", "score_first", "score_second", "max_pixel_score"]
SCORES = COLUMNS[4:]
_ORDER = ["_set", "_row"]  # test-set position, samples-table row


def _numbers(values: Any) -> list:
    if isinstance(values, torch.Tensor):
        return values.detach().float().cpu().tolist()
    return list(values)


class PredictionWriter(WritesToRunFolder, L.Callback):
    """Write per-image scores, and optionally anomaly maps and overlays, after `test` and `predict`.

    Args:
        results_dir: the folder (a path or the CLI's RunFolder); None = `default_run_folder(trainer)`, the same
            folder as the tables'.
        save_maps: test: also write the float16 anomaly maps, one .npz per dataset and class, and their overlays.
            predict always writes its overlays, maps only with this.
        overlays_per_class: overlay PNGs per (dataset, class); 0 writes none.
        image_threshold: calibrated image threshold (predict --thresholds): a `decision` column (score >= threshold).
    """

    def __init__(
        self, results_dir: Optional[str | os.PathLike | RunFolder] = None, save_maps: bool = False,
        overlays_per_class: int = 4, image_threshold: Optional[float] = None,
    ):
        if overlays_per_class < 0:
            raise ValueError(f"overlays_per_class must be >= 0, got {overlays_per_class}.")
        self.image_threshold = image_threshold
        self._given_folder(results_dir)
        self.save_maps = save_maps
        self.overlays_per_class = overlays_per_class
        self._reset()

    def _reset(self) -> None:
        self._rows: list[dict] = []
        self._maps: dict[tuple, list] = defaultdict(list)  # (set, dataset, class) -> [(row, path, label, map)]
        self._overlays: dict[tuple, list] = defaultdict(list)  # (set, dataset, class) -> candidates
        self._stage = "test"

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage in ("test", "predict"):
            self.folder(trainer)  # every rank agrees on the default folder here (a collective call)

    def _overlays_wanted(self) -> int:
        return self.overlays_per_class if (self._stage == "predict" or self.save_maps) else 0

    # -- collecting -----------------------------------------------------------------------------
    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self._reset()
        self._stage = "test"

    def on_predict_epoch_start(self, trainer, pl_module) -> None:
        self._reset()
        self._stage = "predict"

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
        keep_maps = self.save_maps or self._overlays_wanted() > 0
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
            if self._overlays_wanted():
                self._offer_overlay(key, int(rows[i]), labels[i], float(scores["pred_score"][i]), outputs, i, maps[i])

    def _order(self, row: int, label: int, score: float) -> tuple:
        """Which overlays a class shows first. test: the anomalous images (ground truth), then samples-table row.
        predict: with thresholds the images judged anomalous, then the highest score (what a user inspects)."""
        if self._stage == "test":
            return (label != 1, row)
        flagged = self.image_threshold is not None and score >= self.image_threshold
        return (not flagged, -score if np.isfinite(score) else np.inf, row)

    def _caption(self, score: float) -> str:
        text = f"score {score:.3f}"
        if self.image_threshold is not None:
            text += "  anomalous" if score >= self.image_threshold else "  normal"
        return text

    def _offer_overlay(self, key, row: int, label: int, score: float, outputs, i: int, anomaly_map: np.ndarray) -> None:
        """Keep this rank's first `overlays_per_class` candidates by `_order`: the union over ranks then holds the
        global first ones, so the choice does not depend on the number of processes."""
        candidate = {
            "order": self._order(row, label, score), "path": outputs.image_path[i], "score": score,
            "image": outputs.image[i].detach().float().cpu().numpy(),
            "map": anomaly_map.astype(np.float16),
            "mask": outputs.mask[i].detach().cpu().numpy() > 0.5 if bool(outputs.has_mask[i]) else None,
        }
        kept = sorted([*self._overlays[key], candidate], key=lambda c: c["order"])
        self._overlays[key] = kept[: self._overlays_wanted()]

    # -- writing ------------------------------------------------------------------------------
    def on_test_epoch_end(self, trainer, pl_module) -> None:
        self._write(trainer, pl_module, "test")

    def on_predict_epoch_end(self, trainer, pl_module) -> None:
        self._write(trainer, pl_module, "predict")

    def _write(self, trainer: L.Trainer, pl_module, stage: str) -> None:
        folder = self.folder(trainer)
        rows = _gather(self._rows)
        overlays = _gather(dict(self._overlays))
        distributed = trainer.world_size > 1 and dist.is_available() and dist.is_initialized()
        if self.save_maps and distributed:
            self._write_map_shards(folder, trainer.global_rank)
            dist.barrier()  # every rank's map shards are on disk
        if trainer.is_global_zero:
            keep_aspect = _keeps_aspect(trainer)
            try:
                self._write_files(folder, pl_module, stage, rows, overlays, keep_aspect, distributed)
            except OSError as error:  # full disk, read-only folder: what was computed goes to a fresh folder
                if distributed and self.save_maps:
                    raise  # the other ranks' map shards are in the folder that failed
                fallback = RunFolder(tempfile.mkdtemp(prefix="tipsomaly-predictions-"))
                self._write_files(fallback, pl_module, stage, rows, overlays, keep_aspect, distributed)
                rank_zero_warn(f"could not write the {stage} predictions to {folder.root} ({error}); they are in {fallback.root}")
        self._reset()

    def _write_files(self, folder: RunFolder, pl_module, stage: str, rows: list, overlays: list, keep_aspect: bool,
                     distributed: bool) -> None:
        """Rank 0: the predictions table, provenance (predict), maps (merged from the shards) and overlays."""
        table = pd.DataFrame([row for part in rows for row in part], columns=[*_ORDER, *COLUMNS])
        table = table.sort_values(_ORDER, kind="stable")[COLUMNS]
        if self.image_threshold is not None:
            table["decision"] = np.where(table["pred_score"] >= self.image_threshold, "anomalous", "normal")
        with atomic_path(folder.predictions(stage)) as temporary:
            table.to_csv(temporary, index=False)
        provenance = getattr(pl_module, "provenance", None)
        if stage == "predict" and callable(provenance):  # the test tables' provenance is ResultsWriter's
            write_text_atomic(folder.provenance(stage), json.dumps(provenance(), indent=2, sort_keys=True, default=str) + "\n")
        if self.save_maps:
            if not distributed:
                self._write_map_shards(folder, 0)
            self._merge_map_shards(folder)
        self._write_overlays(folder, overlays, keep_aspect)
        few_shot = getattr(pl_module, "few_shot", None)  # few-shot mode: which images formed each memory bank
        if few_shot is not None:
            few_shot.write_references(folder.few_shot_references)

    def _write_map_shards(self, folder: RunFolder, rank: int) -> None:
        for (_, dataset, class_name), entries in self._maps.items():
            path = folder.map_file(dataset, class_name, f".rank{rank}.npz")
            rows, paths, labels, maps = zip(*entries)
            with atomic_path(path) as temporary, open(temporary, "wb") as handle:
                np.savez(handle, rows=np.array(rows), image_paths=np.array(paths), labels=np.array(labels),
                         maps=np.stack(maps))

    def _merge_map_shards(self, folder: RunFolder) -> None:
        """One `<class>.npz` per dataset and class from the ranks' shards, rows in samples-table order."""
        for dataset_dir in sorted(folder.maps.glob("*")):
            shards: dict[str, list[Path]] = defaultdict(list)
            for shard in dataset_dir.glob("*.rank*.npz"):
                shards[shard.name.rsplit(".rank", 1)[0]].append(shard)
            for class_name, paths in shards.items():
                parts = [dict(np.load(path)) for path in paths]
                merged = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
                order = np.argsort(merged.pop("rows"), kind="stable")
                with atomic_path(dataset_dir / f"{class_name}.npz") as temporary, open(temporary, "wb") as handle:
                    np.savez_compressed(handle, **{k: v[order] for k, v in merged.items()})
                for path in paths:
                    os.remove(path)

    def _write_overlays(self, folder: RunFolder, gathered: list[dict], keep_aspect: bool) -> None:
        merged: dict[tuple, list] = defaultdict(list)
        for part in gathered:
            for key, candidates in part.items():
                merged[key] += candidates
        for (_, dataset, class_name), candidates in merged.items():
            chosen = sorted(candidates, key=lambda c: c["order"])[: self._overlays_wanted()]
            for candidate in chosen:
                picture = render_overlay(
                    candidate["image"], candidate["map"].astype(np.float32), candidate["mask"],
                    aspect=_aspect(candidate["path"]) if keep_aspect else None, caption=self._caption(candidate["score"]),
                )
                with atomic_path(folder.overlay_file(dataset, class_name, overlay_name(candidate["path"]))) as temporary:
                    Image.fromarray(picture).save(temporary, format="PNG")


def _keeps_aspect(trainer) -> bool:
    """Whether the panels should be stretched back to each image's aspect ratio: yes when the data resizes to a
    square (the shape is lost), no for letterbox (the padded input already shows the true shape)."""
    return getattr(getattr(trainer, "datamodule", None), "resize", None) != "letterbox"


def _aspect(image_path: str) -> Optional[float]:
    """width / height of the image file (its header only), None when it cannot be read."""
    try:
        with Image.open(image_path) as image:
            width, height = image.size
    except (OSError, ValueError):
        return None
    return width / height if height else None


def _gather(value: Any) -> list:
    """[value of rank 0, value of rank 1, ...] on every rank; [value] without a process group."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [value]
    parts: list = [None] * dist.get_world_size()
    dist.all_gather_object(parts, value)
    return parts


__all__ = ["COLUMNS", "PredictionWriter"]
