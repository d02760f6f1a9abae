"""Decision thresholds for an inspection line: computed from scores, stored as a small weights-free JSON file.

Two ways to calibrate, both on the scores the model gives (no retraining):

- from normal images only (`from_normal_scores`): the threshold is a high order statistic of the
  normal scores, chosen so that a held-out normal image of the same product is called anomalous
  with probability at most `1 - quantile` (conformal rank `k = ceil((n + 1) * quantile)`; with too
  few images for the asked quantile the maximum is used and the achievable rate is stored instead);
- from a labelled set (`from_labelled_scores`): the F1-max threshold the metrics compute, with the
  false-positive rate on that set's normal images at it.

Decision rule everywhere: anomalous when `score >= threshold` (as the metrics' curves count). A
normal-quantile threshold sits just above its order statistic, so every calibration image at or
below it stays normal.

The map threshold applies to each pixel of the anomaly map, and is calibrated on the maximum of
each normal image's map: at it, a normal image's map is empty (no pixel flagged) with the same
guarantee as the image score.
"""

from __future__ import annotations

import datetime
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from datamodules.atomic_files import write_text_atomic
from lightning_modules.metrics.curves import counts_from_scores
from lightning_modules.tipsomaly.provenance import compare_provenance

FORMAT = "tipsomaly.thresholds"
FORMAT_VERSION = 2  # 2: the provenance is the model's own dict (`model.provenance()`)
METHODS = ("normal_quantile", "f1_max")


class ThresholdsError(ValueError):
    """A thresholds file that cannot be used as given; the message names the file, the mismatch and the fix."""


@dataclass(frozen=True)
class Thresholds:
    """Image-score and anomaly-map thresholds of one product (class) and what they came from.

    image_threshold: on `pred_score` (in [0, 2] with local-to-global, [0, 1] without).
    map_threshold: on anomaly-map pixels (in [0, 1]).
    method: "normal_quantile" or "f1_max". quantile: the asked quantile (normal_quantile).
    expected_fpr: the bound on held-out normals' false-positive rate (normal_quantile).
    f1_max, fpr_on_normals: F1 at the threshold and the labelled set's normal images' rate (f1_max).
    """

    class_name: str
    image_threshold: float
    map_threshold: float
    method: str
    n_images: int
    n_normal: int
    n_anomalous: int
    provenance: dict  # the scoring model's `provenance()` (lightning_modules/tipsomaly/provenance.py)
    quantile: float | None = None
    expected_fpr: float | None = None
    f1_max: float | None = None
    fpr_on_normals: float | None = None
    created: str = ""

    def is_anomalous(self, score: float | Tensor) -> bool | Tensor:
        """The decision for image scores: True (anomalous) where score >= image_threshold."""
        return score >= self.image_threshold


def _scores(values, what: str) -> Tensor:
    scores = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    if scores.numel() == 0:
        raise ThresholdsError(f"thresholds.py: no {what} to calibrate from; give at least one image")
    if not torch.isfinite(scores).all():
        bad = int((~torch.isfinite(scores)).sum())
        raise ThresholdsError(f"thresholds.py: {bad} of {scores.numel()} {what} are NaN or infinite; check the images and the model")
    return scores


def conformal_rank(n: int, quantile: float) -> int:
    """1-based rank k of the order statistic whose exceedance by a new exchangeable score has probability <= 1 - quantile.

    k = ceil((n + 1) * quantile), capped at n (then the bound is 1 / (n + 1), above 1 - quantile).
    """
    return min(n, math.ceil((n + 1) * quantile - 1e-12))


def quantile_threshold(scores, quantile: float, what: str = "scores") -> tuple[float, float]:
    """(threshold, expected false-positive rate) from normal scores [n].

    The threshold is the next float32 above the k-th smallest score (`conformal_rank`), so under
    `score >= threshold` the calibration scores up to it are normal; expected_fpr = 1 - k / (n + 1).
    """
    if not 0.0 < quantile < 1.0:
        raise ThresholdsError(f"thresholds.py: quantile must be in (0, 1), e.g. 0.99, got {quantile}; for a target false-positive rate f use quantile = 1 - f")
    ordered = torch.sort(_scores(scores, what)).values
    k = conformal_rank(len(ordered), quantile)
    return _float32_above(float(ordered[k - 1])), 1.0 - k / (len(ordered) + 1)


def _float32_above(value: float) -> float:
    """The smallest float32 strictly above `value`: scores are float32, and a float64 step above a float32
    score would round back onto it when compared in float32."""
    up = torch.tensor(math.inf)
    threshold = torch.tensor(value, dtype=torch.float32)
    if float(threshold) <= value:
        threshold = torch.nextafter(threshold, up)
    return float(threshold)


def f1_max_threshold(scores, labels) -> tuple[float, float, float]:
    """(threshold, F1 at it, false-positive rate of the normals at it) over a labelled set.

    scores [n] any range; labels [n] 0 normal / 1 anomalous, both classes present. Ties between
    thresholds of equal F1 go to the highest threshold (fewest false alarms).
    """
    scores = _scores(scores, "scores")
    labels = torch.as_tensor(labels).reshape(-1)
    if labels.shape != scores.shape:
        raise ThresholdsError(f"thresholds.py: {labels.numel()} labels for {scores.numel()} scores; give one label per image")
    if not bool(((labels == 0) | (labels == 1)).all()):
        raise ThresholdsError(f"thresholds.py: labels must be 0 (normal) or 1 (anomalous), got values {sorted(set(labels.tolist()))}")
    positive = labels == 1
    if not positive.any() or positive.all():
        raise ThresholdsError(
            f"thresholds.py: an F1-max threshold needs normal and anomalous images, got {int(positive.sum())} anomalous of {len(labels)}; "
            "calibrate from normal images with a quantile instead"
        )
    counts = counts_from_scores(scores, positive)
    f1 = 2 * counts.tps / (counts.tps + counts.fps + counts.positives)
    best = int(torch.argmax(f1))  # first maximum = highest threshold, since thresholds descend
    return float(counts.thresholds[best]), float(f1[best]), float(counts.fps[best] / counts.negatives)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def from_normal_scores(
    class_name: str, image_scores, map_maxima, provenance: dict, quantile: float = 0.99
) -> Thresholds:
    """Thresholds from normal images only: image_scores [n] (`pred_score`), map_maxima [n] (each map's maximum)."""
    image_threshold, expected_fpr = quantile_threshold(image_scores, quantile, "image scores")
    map_threshold, _ = quantile_threshold(map_maxima, quantile, "map maxima")
    n = int(torch.as_tensor(image_scores).numel())
    return Thresholds(
        class_name=class_name, image_threshold=image_threshold, map_threshold=map_threshold, method="normal_quantile",
        n_images=n, n_normal=n, n_anomalous=0, provenance=provenance, quantile=quantile, expected_fpr=expected_fpr, created=_now(),
    )


def from_labelled_scores(
    class_name: str, image_scores, labels, map_maxima, provenance: dict, quantile: float = 0.99
) -> Thresholds:
    """Image threshold at F1-max over a labelled set; map threshold from its normal images' map maxima at `quantile`."""
    image_threshold, f1, fpr = f1_max_threshold(image_scores, labels)
    labels = torch.as_tensor(labels).reshape(-1)
    normal_maxima = torch.as_tensor(map_maxima, dtype=torch.float64).reshape(-1)[labels == 0]
    map_threshold, _ = quantile_threshold(normal_maxima, quantile, "normal images' map maxima")
    return Thresholds(
        class_name=class_name, image_threshold=image_threshold, map_threshold=map_threshold, method="f1_max",
        n_images=len(labels), n_normal=int((labels == 0).sum()), n_anomalous=int((labels == 1).sum()),
        provenance=provenance, quantile=quantile, f1_max=f1, fpr_on_normals=fpr, created=_now(),
    )


def default_thresholds_path(prompt_file: str | os.PathLike | None, class_name: str, folder: str | os.PathLike = ".") -> Path:
    """`thresholds_<class>.json` beside the prompt file (or in `folder` for fixed prompts only)."""
    where = Path(prompt_file).parent if prompt_file else Path(folder)
    return where / f"thresholds_{class_name.replace(' ', '_').replace('/', '_')}.json"


def save_thresholds(path: str | os.PathLike, thresholds: Thresholds) -> Path:
    """Write readable JSON (indented, keys in a fixed order) whole or not at all; returns the path."""
    content = {"format": FORMAT, "version": FORMAT_VERSION, **asdict(thresholds)}
    return write_text_atomic(path, json.dumps(content, indent=2) + "\n")


def load_thresholds(path: str | os.PathLike) -> Thresholds:
    """Read a file written by `save_thresholds`; anything else is refused with the reason."""
    path = Path(path)
    if not path.is_file():
        raise ThresholdsError(f"no thresholds file at '{path}'; write one with `tipsomaly calibrate`")
    try:
        content = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ThresholdsError(f"{path}: not JSON ({error}); expected a thresholds file written by `tipsomaly calibrate`") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise ThresholdsError(f"{path}: not a tipsomaly thresholds file (no \"format\": \"{FORMAT}\"); write one with `tipsomaly calibrate`")
    if content.get("version") != FORMAT_VERSION:
        raise ThresholdsError(f"{path}: thresholds version {content.get('version')!r}, this code reads {FORMAT_VERSION}; calibrate again")
    try:
        provenance = content.pop("provenance")
        if not isinstance(provenance, dict):
            raise TypeError(f"provenance is {type(provenance).__name__}, expected the model's provenance dict")
        content = {k: v for k, v in content.items() if k not in ("format", "version")}
        thresholds = Thresholds(provenance=provenance, **content)
    except (TypeError, KeyError) as error:
        raise ThresholdsError(f"{path}: incomplete or unknown fields ({error}); calibrate again") from None
    if thresholds.method not in METHODS:
        raise ThresholdsError(f"{path}: method {thresholds.method!r} is not one of {', '.join(METHODS)}; calibrate again")
    for name in ("image_threshold", "map_threshold"):
        value = getattr(thresholds, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ThresholdsError(f"{path}: {name} is {getattr(thresholds, name)!r}, expected a finite number; calibrate again")
    return thresholds


def check_provenance(thresholds: Thresholds, expected: dict, where: str) -> None:
    """Refuse thresholds computed by another model than `expected` (a `model.provenance()`): their scale differs.

    One rule for calibrate, predict, `Detector` and `OnnxDetector`: `compare_provenance`."""
    differences = compare_provenance(thresholds.provenance, expected)
    if differences:
        raise ThresholdsError(
            f"{where}: thresholds were calibrated with another model than the one scoring now ("
            + "; ".join(differences)
            + "); calibrate again with this model (`tipsomaly calibrate`), or score with the model they were made with"
        )
