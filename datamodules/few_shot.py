"""Few-shot references: per class, k normal images drawn with a seed, from which the model builds its memory bank.

    test_sets: [{name: mvtec, format: mvtec, root: ..., few_shot: {k: 4, seed: 0}}]   # or data.few_shot for all

The pool is the layout's normal training split (`readers.train_split`); a class without one draws from its own
normal test images and those k images leave the evaluation (a reference scores distance 0 against itself), which
the set's plan notes for the results table. The draw depends only on the pool (sorted by path), k, the seed and
the class name, so every DDP rank and every rerun picks the same images.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pandas as pd

from datamodules.errors import DatasetLayoutError

SOURCES = ("train", "test")


@dataclass(frozen=True)
class FewShot:
    """k normal reference images per class, drawn with `seed`."""

    k: int
    seed: int = 0

    @classmethod
    def coerce(cls, value: Any, where: str) -> Optional[FewShot]:
        """A FewShot from None, a FewShot or a mapping {k, seed}; one clear error otherwise."""
        if value is None or isinstance(value, FewShot):
            return value
        if not isinstance(value, Mapping) or set(value) - {"k", "seed"} or "k" not in value:
            raise DatasetLayoutError(
                f"{where}: few_shot {value!r}; expected a mapping {{k: <images per class>, seed: <int>}}, e.g. "
                "few_shot: {k: 4, seed: 0}."
            )
        k, seed = value["k"], value.get("seed", 0)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise DatasetLayoutError(f"{where}: few_shot k={k!r}; expected an integer >= 1 (normal images per class).")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise DatasetLayoutError(f"{where}: few_shot seed={seed!r}; expected an integer >= 0.")
        return cls(k=k, seed=seed)

    def as_dict(self) -> dict[str, int]:
        return {"k": self.k, "seed": self.seed}


@dataclass(frozen=True)
class ClassReferences:
    """The reference images of one class: absolute paths in draw order, and where they came from."""

    class_name: str
    image_paths: tuple[str, ...]
    source: str  # "train": the training split; "test": the class's own normal test images (left out of evaluation)


def draw(pool: list[str], k: int, seed: int, class_name: str) -> list[str]:
    """k of `pool` (sorted first, so file-system order never matters), without replacement, reproducibly."""
    ordered = sorted(pool)
    rng = np.random.default_rng([seed, zlib.crc32(class_name.encode("utf-8"))])
    return [ordered[i] for i in sorted(rng.choice(len(ordered), size=k, replace=False))]


def draw_references(
    samples: pd.DataFrame, train_normals: Optional[pd.DataFrame], few_shot: FewShot, dataset_name: str
) -> tuple[pd.DataFrame, dict[str, ClassReferences]]:
    """(the samples left to evaluate, {class name: its references}) for one test set.

    samples: the set's test samples table; train_normals: its normal training images (or None). A class with
    training normals draws from them; one without draws from its normal test images, which are then removed
    from the returned samples. k larger than the pool, or a class without any normal image, is one error
    naming the set, the class, the counts and the fix, before any image is decoded.
    """
    references: dict[str, ClassReferences] = {}
    drop: set[str] = set()
    where = f"dataset '{dataset_name}'"
    for class_name in dict.fromkeys(samples["class_name"]):
        train = [] if train_normals is None else list(train_normals.loc[train_normals["class_name"] == class_name, "image_path"])
        test = list(samples.loc[(samples["class_name"] == class_name) & (samples["label"] == 0), "image_path"])
        if train:
            source, pool = "train", train
        elif test:
            source, pool = "test", test
        else:
            raise DatasetLayoutError(
                f"{where}: few-shot needs normal images of class '{class_name}', but it has no normal training or test "
                "image. Fix: remove few_shot from this set, or restrict classes to those with normal images."
            )
        # drawn from the test normals, at least one normal must stay for the image metrics
        available = len(pool) - (1 if source == "test" else 0)
        if few_shot.k > available:
            what = (
                f"{len(pool)} normal training images" if source == "train"
                else f"no training split here and {len(pool)} normal test images (one must stay for evaluation)"
            )
            raise DatasetLayoutError(
                f"{where}: few_shot k={few_shot.k} for class '{class_name}', which has {what}. "
                f"Fix: use k <= {max(available, 0)}, or leave this class out (classes: [...])."
            )
        chosen = draw(pool, few_shot.k, few_shot.seed, class_name)
        references[class_name] = ClassReferences(class_name, tuple(chosen), source)
        if source == "test":
            drop.update(chosen)
    kept = samples[~samples["image_path"].isin(drop)].reset_index(drop=True)
    return kept, references


def references_table(references: Mapping[str, ClassReferences]) -> pd.DataFrame:
    """The reference images as a samples table (label 0, no masks), read and resized like the test images."""
    rows = [(path, refs.class_name) for refs in references.values() for path in refs.image_paths]
    return pd.DataFrame(
        {
            "image_path": pd.Series([path for path, _ in rows], dtype=str),
            "mask_path": pd.Series([None] * len(rows), dtype=object),
            "class_name": pd.Series([name for _, name in rows], dtype=str),
            "defect_type": pd.Series(["good"] * len(rows), dtype=str),
            "label": pd.Series([0] * len(rows), dtype="int64"),
        }
    )


def coverage_note(few_shot: FewShot, references: Mapping[str, ClassReferences]) -> str:
    """What the results table says about a few-shot set: whose references were test images, left out."""
    from_test = [name for name, refs in references.items() if refs.source == "test"]
    text = f"few-shot k={few_shot.k} seed={few_shot.seed}"
    if from_test:
        shown = ", ".join(from_test[:5]) + (f" and {len(from_test) - 5} more" if len(from_test) > 5 else "")
        text += f"; references from the normal test images, left out of the evaluation ({shown})"
    return text
