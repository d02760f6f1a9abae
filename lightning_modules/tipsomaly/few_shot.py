"""Few-shot mode: a memory bank of the frozen patch tokens of k normal reference images per (dataset, class), and
the few-shot anomaly map = each test patch's cosine distance to its nearest memory patch.

    few-shot map   d(p) = (1 - max_m cos(p, m)) / 2 in [0, 1], upsampled and smoothed like the zero-shot map
    anomaly_map    (1 - w) * zero_shot_map + w * few_shot_map              (few_shot_only: few_shot_map)
    image score    zero_shot_score + max(few_shot_map)                     (few_shot_only: max(few_shot_map))

The search is exact (no approximate index): chunked matrix products over the bank, so memory stays bounded, in
float32 with autocast off (float64 under a reduced float32 matmul precision), batched over images. The bank is
state, not a parameter: built from the references the data drew (`datamodules.few_shot`) when test or predict
starts, on the model's device, identically on every DDP rank; it is never saved in checkpoints.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import Tensor

from datamodules.atomic_files import write_text_atomic
from datamodules.batch import collate
from lightning_modules.tips.vision_tower import PATCH_SIZE

from .gaussian import gaussian_blur
from .scorer import ScorerOutput
from .scoring import normalize_visual, upsample_probabilities

REFERENCES_FILE = "few_shot_references.json"  # RunFolder.few_shot_references
# Bound on one chunk's similarity block (B x N x chunk floats): 2**25 floats = 128 MiB in float32.
MAX_CHUNK_ELEMENTS = 2**25
_FILE = "lightning_modules/tipsomaly/few_shot.py"


def check_few_shot_arguments(weight: float, only: bool, rotations: bool) -> None:
    """Refuse few-shot settings that would score wrongly, at construction."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not (0.0 <= float(weight) <= 1.0):
        raise ValueError(f"{_FILE}: few_shot_weight={weight!r}; expected a number in [0, 1] (the few-shot map's share)")
    for name, value in (("few_shot_only", only), ("few_shot_rotations", rotations)):
        if not isinstance(value, bool):
            raise ValueError(f"{_FILE}: {name}={value!r}; expected true or false")


# -- tensor-only math ----------------------------------------------------------------------------------------
def memory_bank(patches: Tensor) -> Tensor:
    """Patch tokens of the references [R, N, D] (any float dtype, not normalised) -> unit vectors [R * N, D], float32."""
    with torch.autocast(device_type=patches.device.type, enabled=False):
        return normalize_visual(patches).reshape(-1, patches.shape[-1])


def _work_dtype() -> torch.dtype:
    # TF32 / bf16 passes (a reduced float32 matmul precision) would move cosines by ~1e-3
    return torch.float32 if torch.get_float32_matmul_precision() == "highest" else torch.float64


def nearest_distances(
    patches: Tensor, banks: Tensor, bank_index: Tensor | None = None, max_elements: int = MAX_CHUNK_ELEMENTS, chunk: int | None = None
) -> Tensor:
    """(1 - cosine to the nearest memory patch) / 2 of every test patch, exact.

    patches: [B, N, D] raw test patch tokens (any float dtype). banks: [C, M, D] unit memory patches (float32),
    one bank per class. bank_index: long [B], the bank of each image; None: every image uses banks[0].
    Returns float32 [B, N] in [0, 1]. Chunks of the bank keep each similarity block under `max_elements` floats;
    `chunk` fixes the number of memory patches per block instead (an export with a symbolic batch size).
    """
    batch, count, width = patches.shape
    with torch.autocast(device_type=patches.device.type, enabled=False):
        dtype = _work_dtype()
        queries = normalize_visual(patches).to(dtype)
        banks = banks.to(dtype)
        chunk = chunk or max(1, max_elements // max(1, batch * count))
        best = torch.full((batch, count), -math.inf, dtype=dtype, device=patches.device)
        for start in range(0, banks.shape[1], chunk):
            if bank_index is None:
                # one bank for the batch: a single [B*N, D] x [D, chunk] product
                block = (queries.reshape(-1, width) @ banks[0, start : start + chunk].T).reshape(batch, count, -1)
            else:
                block = torch.bmm(queries, banks[bank_index, start : start + chunk].transpose(1, 2))
            best = torch.maximum(best, block.amax(dim=-1))
        return ((1.0 - best.clamp(-1.0, 1.0)) / 2.0).float()


def few_shot_map(distances: Tensor, grid: tuple[int, int], size: tuple[int, int], sigma: float) -> Tensor:
    """Patch distances [B, N] on a (rows, cols) grid -> [B, H, W] in [0, 1]: bilinear upsampling and the
    Gaussian smoothing of the zero-shot map (the same functions, so both maps are smoothed alike)."""
    with torch.autocast(device_type=distances.device.type, enabled=False):
        upsampled = upsample_probabilities(torch.stack([distances, distances], dim=-1).float(), grid, size)[:, 0]
        return gaussian_blur(upsampled, sigma=sigma)


def combine(zero_shot: ScorerOutput, few_map: Tensor, weight: float, only: bool) -> ScorerOutput:
    """The zero-shot output with the few-shot map folded in (see the module docstring)."""
    few_max = few_map.flatten(1).amax(dim=1)
    if only:
        maps, scores = few_map, (few_max, few_max, few_max)
    else:
        maps = (1.0 - weight) * zero_shot.anomaly_map + weight * few_map
        scores = (zero_shot.pred_score + few_max, zero_shot.score_first + few_max, zero_shot.score_second + few_max)
    return dataclasses.replace(
        zero_shot, pred_score=scores[0], score_first=scores[1], score_second=scores[2], anomaly_map=maps,
        max_pixel_score=maps.flatten(1).amax(dim=1),
    )


def apply_few_shot(
    zero_shot: ScorerOutput, patches: Tensor, banks: Tensor, bank_index: Tensor | None, weight: float, only: bool, sigma: float,
    chunk: int | None = None,
) -> ScorerOutput:
    """The whole few-shot step on one batch: distances to the banks, the smoothed map, the combination."""
    size = tuple(zero_shot.anomaly_map.shape[-2:])
    grid = (size[0] // PATCH_SIZE, size[1] // PATCH_SIZE)
    distances = nearest_distances(patches, banks, bank_index, chunk=chunk)
    return combine(zero_shot, few_shot_map(distances, grid, size, sigma), weight, only)


def rotated(images: Tensor) -> Tensor:
    """images [R, 3, S, S] -> [4R, 3, S, S]: as given, then rotated by 90, 180 and 270 degrees."""
    return torch.cat([torch.rot90(images, turns, dims=(-2, -1)) for turns in range(4)])


# -- the bank as state ---------------------------------------------------------------------------------------
class FewShotMemory:
    """Memory banks per (dataset, class) and the settings that combine them with the zero-shot output.

    A plain object, not an nn.Module: the banks are rebuilt from the references at each test / predict start and
    never enter a state dict or checkpoint.
    """

    def __init__(self, weight: float = 0.5, only: bool = False, rotations: bool = False, sigma: float = 4.0):
        check_few_shot_arguments(weight, only, rotations)
        self.weight, self.only, self.rotations, self.sigma = float(weight), only, rotations, float(sigma)
        self.keys: dict[tuple[str, str], int] = {}  # (dataset, class) -> row of `banks`
        self.banks: Tensor | None = None  # [C, M, D] unit float32
        self.references: dict[str, dict[str, list[str]]] = {}  # dataset -> class -> paths, in bank order
        self.settings: dict[str, dict] = {}  # dataset -> {k, seed, source per class}
        self._pending: list[Tensor] = []  # banks added, not yet stacked

    @property
    def active(self) -> bool:
        return self.banks is not None

    def clear(self) -> None:
        self.keys, self.banks, self.references, self.settings, self._pending = {}, None, {}, {}, []

    def build(self, encode: Callable[[Tensor, Optional[list[str]]], Tensor], datasets: Iterable, device: torch.device, batch_size: int = 16) -> None:
        """Encode every reference image of the datasets that carry references (`AnomalyDataset.reference_dataset`).

        encode(images [R, 3, S, S] on `device`, fingerprints or None) -> patch tokens [R, N, D]. Datasets without
        references keep the zero-shot output.
        """
        self.clear()
        for dataset in datasets:
            references = getattr(dataset, "reference_dataset", lambda: None)()
            if references is None:
                continue
            name = dataset.dataset_name
            self.settings[name] = {**dataset.few_shot.as_dict(), "source": {c: r.source for c, r in dataset.references.items()}}
            for class_name in dataset.references:
                rows = [int(i) for i in references.samples.index[references.samples["class_name"] == class_name]]
                parts = []
                for start in range(0, len(rows), batch_size):
                    batch = collate([references[i] for i in rows[start : start + batch_size]])
                    parts.append((batch.image.to(device), list(batch.fingerprint)))
                paths = [references.samples["image_path"][i] for i in rows]
                self.add((name, class_name), encode, parts, paths)
        self._stack()

    def add(self, key: tuple[str, str], encode: Callable, parts: list[tuple[Tensor, Optional[list[str]]]], paths: list[str]) -> None:
        """One bank from reference images given as (images [R, 3, S, S], fingerprints or None) parts; call `_stack` after."""
        patches = []
        for images, fingerprints in parts:
            if self.rotations:  # the rotated copies get their own fingerprints (computed by the encoder)
                images, fingerprints = rotated(images), None
            patches.append(encode(images, fingerprints))
        self.keys[key] = len(self._pending)
        self._pending.append(memory_bank(torch.cat(patches)))
        self.references.setdefault(key[0], {})[key[1]] = list(paths)

    def _stack(self) -> None:
        # banks of different sizes (another k) are padded by repeating their own rows: every maximum is unchanged
        banks, self._pending = self._pending, []
        if banks:
            size = max(bank.shape[0] for bank in banks)
            self.banks = torch.stack([bank[torch.arange(size, device=bank.device) % bank.shape[0]] for bank in banks])

    def for_batch(self, dataset_names: Sequence[str], class_names: Sequence[str]) -> Optional[Callable]:
        """The hook `TipsomalyModel.forward(few_shot=...)` applies to this batch's output, or None (zero-shot)."""
        if self.banks is None:
            return None
        keys = list(zip(dataset_names, class_names))
        known = [key in self.keys for key in keys]
        if not any(known):
            return None
        if not all(known):
            missing = sorted({key for key, ok in zip(keys, known) if not ok})
            raise ValueError(f"{_FILE}: a batch mixes few-shot classes with classes without a memory bank {missing}; evaluate each set with its own dataloader")
        rows = [self.keys[key] for key in keys]
        banks = self.banks if len(set(rows)) > 1 else self.banks[rows[0] : rows[0] + 1]
        index = torch.tensor(rows, device=self.banks.device) if len(set(rows)) > 1 else None

        def apply(zero_shot: ScorerOutput, patches: Tensor) -> ScorerOutput:
            return apply_few_shot(zero_shot, patches, banks, index, self.weight, self.only, self.sigma)

        return apply

    def describe(self) -> dict | None:
        """What provenance records: None without banks, else the settings that scored."""
        if not self.settings:
            return None
        draws = {name: (entry["k"], entry["seed"]) for name, entry in self.settings.items()}
        if len(set(draws.values())) == 1:  # one k and seed for every set (the usual case): plain values
            k, seed = next(iter(draws.values()))
        else:
            k, seed = ({name: draw[i] for name, draw in draws.items()} for i in (0, 1))
        return {"k": k, "seed": seed, "weight": self.weight, "only": self.only, "rotations": self.rotations}

    def memory_bytes(self) -> int:
        return 0 if self.banks is None else self.banks.numel() * self.banks.element_size()

    def write_references(self, path: str | os.PathLike) -> Path | None:
        """Write `path` (a run's `few_shot_references.json`): per dataset its k, seed, and per class the reference
        paths and their source (train split or test normals); None when no bank was built."""
        if not self.references:
            return None
        record = {
            name: {"k": self.settings[name]["k"], "seed": self.settings[name]["seed"], "rotations": self.rotations,
                   "classes": {c: {"source": self.settings[name]["source"][c], "images": paths} for c, paths in classes.items()}}
            for name, classes in self.references.items()
        }
        return write_text_atomic(path, json.dumps(record, indent=2) + "\n")


# -- deployment: a detector's references (lightning_modules/deploy) ---------------------------------------------
DETECTOR_SET = "detector"


def reference_files(folder: str | os.PathLike) -> list[Path]:
    """The images directly in a reference folder, sorted; an error naming the folder when it holds none."""
    from datamodules.readers.pairing import list_images

    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"{_FILE}: reference folder '{folder}' does not exist; give a folder of normal images of the product")
    files = list_images(path)
    if not files:
        raise ValueError(f"{_FILE}: reference folder '{folder}' holds no images; put a few normal images of the product there")
    return files


def detector_memory(encode: Callable, images: Tensor, paths: Sequence[str], class_name: str, weight: float, only: bool,
                    rotations: bool, sigma: float) -> FewShotMemory:
    """One bank for a detector's product from its reference images [R, 3, S, S] (already prepared as it prepares
    every image); keyed (DETECTOR_SET, class_name)."""
    memory = FewShotMemory(weight, only, rotations, sigma)
    memory.settings[DETECTOR_SET] = {"k": len(paths), "seed": None, "source": {class_name: "reference_dir"}}
    memory.add((DETECTOR_SET, class_name), encode, [(images, None)], [str(p) for p in paths])
    memory._stack()
    return memory


def banks_for_classes(memory: FewShotMemory, class_names: Sequence[str]) -> Tensor:
    """A detector's banks [C, M, D] in the order of `class_names` (an export's class list); an error naming the
    classes without references."""
    missing = [name for name in class_names if (DETECTOR_SET, name) not in memory.keys]
    if missing:
        held = [c for _, c in memory.keys]
        raise ValueError(
            f"{_FILE}: no few-shot references for class(es) {missing}; the reference folder is of {held}. Fix: export "
            "only that class with --reference_dir, or export without --reference_dir"
        )
    return memory.banks[[memory.keys[(DETECTOR_SET, name)] for name in class_names]]


def file_digest(paths: Iterable[str | os.PathLike]) -> str:
    """SHA-256 over the contents of the files, in sorted order of their digests (names and order do not matter)."""
    import hashlib

    digests = sorted(hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths)
    return hashlib.sha256("".join(digests).encode()).hexdigest()


def scoring_record(memory: Optional[FewShotMemory]) -> Optional[dict]:
    """What thresholds store about a detector's few-shot mode (None: zero-shot): their scale depends on it."""
    if memory is None:
        return None
    paths = [p for classes in memory.references.values() for ps in classes.values() for p in ps]
    return {"k": len(paths), "weight": memory.weight, "only": memory.only, "rotations": memory.rotations,
            "references_sha256": file_digest(paths)}


def refuse_reference_overlap(images: Sequence[str | os.PathLike], memory: Optional[FewShotMemory], what: str = "normal") -> None:
    """Refuse calibration images that are also reference images (same content): their few-shot distance is 0,
    so thresholds computed on them would sit too low."""
    if memory is None:
        return
    import hashlib

    references = {hashlib.sha256(Path(p).read_bytes()).hexdigest() for cs in memory.references.values() for ps in cs.values() for p in ps}
    shared = [Path(p).name for p in images if hashlib.sha256(Path(p).read_bytes()).hexdigest() in references]
    if shared:
        shown = ", ".join(shared[:5]) + (f" and {len(shared) - 5} more" if len(shared) > 5 else "")
        raise ValueError(
            f"{len(shared)} {what} image(s) are also few-shot reference images ({shown}): their distance to the memory "
            "bank is 0, which would bias the thresholds low. Fix: calibrate on normal images other than the references."
        )


def add_plan_notes(table, plans) -> "object":
    """The results table with each set's plan note (`SetPlan.note`) appended to its mean row's coverage."""
    from lightning_modules.metrics.results_table import COVERAGE, MEAN

    for plan in plans:
        if getattr(plan, "note", ""):
            rows = (table["dataset"] == plan.dataset) & (table["class"] == MEAN)
            table.loc[rows, COVERAGE] = [f"{text}; {plan.note}" if text else plan.note for text in table.loc[rows, COVERAGE]]
    return table
