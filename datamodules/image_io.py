"""Decoding images and masks from disk (runs in DataLoader workers, never while building samples tables).

Images of any PIL mode come back as 8-bit 'RGB' (L, P, RGBA, CMYK, 1, ... via `convert("RGB")`, as the
reference does; alpha is dropped), except 16-bit grayscale ('I;16*', and 'I' as some readers open it), which
`convert("RGB")` would clip at 255 and so turn almost white: those come back as one 'F' channel scaled to
[0, 1] by 1/65535. Float images ('F') are refused, since their value range is not defined by the file.
Masks come back binary: pixels whose value exceeds a threshold (spec.MASK_THRESHOLDS) are anomalous.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from PIL import Image, UnidentifiedImageError

from datamodules.errors import DatasetLayoutError

HIGH_BIT_DEPTH_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
# Mask modes whose raw values are the annotation (grey levels, palette indices, bits); others go through L.
_RAW_MASK_MODES = HIGH_BIT_DEPTH_MODES | {"L", "P", "1", "F"}


@contextmanager
def _decoding(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Turn PIL's file errors into errors naming the file and the fix."""
    try:
        yield
    except FileNotFoundError as error:
        raise DatasetLayoutError(
            f"{what} '{path}' does not exist. Fix: re-read the dataset; it changed on disk."
        ) from error
    except (UnidentifiedImageError, OSError) as error:
        raise DatasetLayoutError(
            f"{what} '{path}' cannot be decoded ({error}). Fix: re-download or re-extract this file."
        ) from error


def _open(path: str | os.PathLike, what: str) -> Image.Image:
    with _decoding(path, what), Image.open(path) as image:  # closes the file; the decoded pixels stay usable
        image.load()
    return image


def read_image(path: str | os.PathLike) -> Image.Image:
    """The image at `path` as 'RGB' (uint8) or, for high bit depths, 'F' in [0, 1] (one channel)."""
    image = _open(path, "image")
    if image.mode == "F":
        raise DatasetLayoutError(
            f"image '{path}' holds 32-bit floats, whose range (0-1? 0-255? 0-65535?) the file does not define. "
            "Fix: save it as 8-bit or 16-bit."
        )
    if image.mode in HIGH_BIT_DEPTH_MODES:
        values = np.asarray(image, dtype=np.float32) / 65535.0
        return Image.fromarray(np.clip(values, 0.0, 1.0))  # float32 2-D -> mode F
    return image if image.mode == "RGB" else image.convert("RGB")


def read_mask(path: str | os.PathLike, threshold: int) -> np.ndarray:
    """Bool [H, W]: True where the mask value exceeds `threshold`.

    Grey, palette (index), bit and 16-bit masks are compared on their raw values, so a VisA index 1 or a
    palette index 1 counts; colour masks are compared on their luminance (PIL "L"), as in the reference.
    """
    mask = _open(path, "mask")
    values = np.asarray(mask if mask.mode in _RAW_MASK_MODES else mask.convert("L"))
    return values > threshold


def check_mask_size(mask: np.ndarray, image: Image.Image, mask_path: str, image_path: str) -> None:
    """Raise unless the mask covers its image pixel for pixel (a resized or swapped mask would misplace defects)."""
    height, width = mask.shape
    if (width, height) != image.size:
        raise DatasetLayoutError(
            f"mask '{mask_path}' is {width}x{height} but its image '{image_path}' is "
            f"{image.size[0]}x{image.size[1]} (width x height). Fix: replace the mask with the original one of "
            "that image; masks must not be resized."
        )


def mask_is_empty(mask: np.ndarray) -> bool:
    """Whether a binary mask (bool [H, W] from `read_mask`) has no anomalous pixel.

    An anomalous image whose mask is empty counts its defect as normal pixels in every pixel metric; callers
    warn with `empty_mask_message` (the reference takes such masks as they are).
    """
    return not bool(np.any(mask))


def empty_mask_message(mask_path: str | os.PathLike, image_path: str | os.PathLike, threshold: int) -> str:
    """One line naming an anomalous image whose mask has no pixel above `threshold`, and the fix."""
    return (
        f"mask '{mask_path}' of anomalous image '{image_path}' has no pixel above {threshold}, so its defect "
        "counts as normal pixels. Fix: restore the original mask, lower mask_threshold, or drop the image."
    )
