"""A small synthetic anomaly dataset in the MVTec AD layout, for the demo and the tests.

Each class is a texture (a jittered grid) or an object (a shaded disc), chosen by whether its name contains
"texture" or "object". Anomalous images carry one defect each, cycling scratch, hole, stain, with its exact
mask. Every third image is written as 8-bit grayscale, to exercise the grayscale path. Same seed, same bytes.

    <root>/<class>/train/good/000.png
    <root>/<class>/test/good/000.png
    <root>/<class>/test/{scratch,hole,stain}/000.png
    <root>/<class>/ground_truth/{scratch,hole,stain}/000_mask.png   0 / 255
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

DEFECTS = ("scratch", "hole", "stain")


def make_synthetic_dataset(
    root: str | os.PathLike,
    classes: Sequence[str] = ("grid_texture", "round_object"),
    n_normal: int = 4,
    n_anomalous: int = 6,
    image_size: int = 64,
    seed: int = 0,
) -> Path:
    """Write the dataset under `root` and return `root` as a Path.

    Args:
        root: output folder (created; existing files of the same names are overwritten).
        classes: class names; each must contain "texture" or "object".
        n_normal: normal test images per class (as many normal train images are written too).
        n_anomalous: anomalous test images per class, spread over scratch, hole and stain.
        image_size: width and height in pixels, at least 32.
        seed: all randomness derives from it.
    """
    if image_size < 32:
        raise ValueError(f"image_size must be at least 32 so that defects stay visible, got {image_size}.")
    if n_normal < 0 or n_anomalous < 0:
        raise ValueError(f"n_normal and n_anomalous must be >= 0, got {n_normal} and {n_anomalous}.")
    root_path = Path(root)
    for class_index, class_name in enumerate(classes):
        kind = _kind(class_name)
        rng = np.random.default_rng([seed, class_index])
        class_dir = root_path / class_name
        written = 0
        for split in ("train", "test"):
            for number in range(n_normal):
                _save(_base_image(kind, image_size, rng), class_dir / split / "good" / f"{number:03d}.png", written)
                written += 1
        for number in range(n_anomalous):
            defect = DEFECTS[number % len(DEFECTS)]
            image = _base_image(kind, image_size, rng)
            mask = _defect_mask(defect, kind, image_size, rng)
            image = _paint_defect(image, mask, defect, rng)
            name = f"{number // len(DEFECTS):03d}"
            _save(image, class_dir / "test" / defect / f"{name}.png", written)
            written += 1
            mask_path = class_dir / "ground_truth" / defect / f"{name}_mask.png"
            mask_path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask.astype(np.uint8) * 255).save(mask_path)
    return root_path


def _kind(class_name: str) -> str:
    for kind in ("texture", "object"):
        if kind in class_name:
            return kind
    raise ValueError(f"synthetic class '{class_name}' must contain 'texture' or 'object' to pick what to draw.")


def _save(image: np.ndarray, path: Path, running_number: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.fromarray(image)
    if running_number % 3 == 2:  # every third image grayscale
        picture = picture.convert("L")
    picture.save(path)


def _base_image(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Uint8 [size, size, 3] defect-free image."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if kind == "texture":
        period = size // 8
        offset_y, offset_x = rng.integers(0, period, size=2)
        background = rng.uniform(100, 140) + np.array([10.0, 0.0, -10.0])
        lines = ((xx + offset_x) % period < 2) | ((yy + offset_y) % period < 2)
        image = np.where(lines[..., None], background - 50, background)
    else:
        centre = size / 2 + rng.uniform(-size / 16, size / 16, size=2)
        radius = size * rng.uniform(0.3, 0.36)
        distance = np.hypot(yy - centre[0], xx - centre[1])
        shading = 1.0 - 0.35 * (distance / radius) ** 2  # brighter centre, like a lit dome
        disc = np.array([170.0, 150.0, 90.0]) * shading[..., None]
        image = np.where((distance <= radius)[..., None], disc, np.array([40.0, 50.0, 60.0]))
    noise = rng.normal(0.0, 5.0, size=(size, size, 1))
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def _defect_mask(defect: str, kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Bool [size, size]: where the defect is. Objects get theirs near the disc centre, textures anywhere."""
    spread = size * (0.12 if kind == "object" else 0.3)
    cy, cx = size / 2 + rng.uniform(-spread, spread, size=2)
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    if defect == "scratch":
        angle = rng.uniform(0, np.pi)
        half = size * 0.18
        dx, dy = half * np.cos(angle), half * np.sin(angle)
        draw.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=255, width=max(2, size // 24))
    elif defect == "hole":
        radius = size * rng.uniform(0.06, 0.1)
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=255)
    else:  # stain: three overlapping blobs
        for _ in range(3):
            oy, ox = rng.uniform(-size * 0.05, size * 0.05, size=2)
            ry, rx = size * rng.uniform(0.04, 0.08, size=2)
            draw.ellipse([cx + ox - rx, cy + oy - ry, cx + ox + rx, cy + oy + ry], fill=255)
    return np.asarray(canvas) > 0


def _paint_defect(image: np.ndarray, mask: np.ndarray, defect: str, rng: np.random.Generator) -> np.ndarray:
    colour = {
        "scratch": np.array([235.0, 235.0, 235.0]),
        "hole": np.array([15.0, 15.0, 15.0]),
        "stain": np.array([110.0, 70.0, 30.0]),
    }[defect]
    opacity = 0.75 if defect == "stain" else 1.0  # a stain lets the surface show through
    painted = image.astype(np.float32)
    painted[mask] = (1 - opacity) * painted[mask] + opacity * (colour + rng.normal(0.0, 4.0, size=(int(mask.sum()), 1)))
    return np.clip(painted, 0, 255).astype(np.uint8)
