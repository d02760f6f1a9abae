"""Checks of image and mask files before any work, so one bad file fails (test) or is skipped (predict) up front
instead of ending a run mid-way with a traceback from a DataLoader worker.

Two depths: `header_problem` opens only the file headers (cheap: zero-byte files, files that are not images,
32-bit float images, masks whose size differs from their image); `decode_problem` decodes every pixel as the
data workers will (also truncated files), which `check_files=True` asks for.
"""

from __future__ import annotations

import os
from typing import Optional

from PIL import Image, UnidentifiedImageError

from datamodules.errors import DatasetLayoutError
from datamodules.image_io import check_mask_size, read_image, read_mask


def _header(path: str, what: str) -> tuple[Optional[Image.Image], Optional[str]]:
    """(opened image with only its header read, None) or (None, the problem)."""
    try:
        if os.path.getsize(path) == 0:
            return None, f"{what} '{path}' is empty (0 bytes)"
        with Image.open(path) as image:
            return image, None
    except FileNotFoundError:
        return None, f"{what} '{path}' does not exist (the dataset changed on disk)"
    except (UnidentifiedImageError, OSError) as error:
        return None, f"{what} '{path}' is not an image PIL can read ({error})"


def header_problem(image_path: str, mask_path: Optional[str] = None, *, verify: bool = False) -> Optional[str]:
    """What is wrong with an image (and its mask) from their headers, or None.

    verify: also run PIL's `verify()` on the image (reads the file through; finds a truncated or corrupt PNG
    without decoding it, not a truncated JPEG).
    """
    image, problem = _header(image_path, "image")
    if problem:
        return problem
    if image.mode == "F":
        return f"image '{image_path}' holds 32-bit floats, whose value range the file does not define; save it as 8 or 16 bit"
    if verify:
        try:
            with Image.open(image_path) as opened:
                opened.verify()
        except Exception as error:  # verify raises assorted types (SyntaxError, struct.error, OSError)
            return f"image '{image_path}' is corrupt or truncated ({error})"
    if mask_path is not None:
        mask, problem = _header(mask_path, "mask")
        if problem:
            return problem
        if mask.size != image.size:
            return (
                f"mask '{mask_path}' is {mask.size[0]}x{mask.size[1]} but its image '{image_path}' is "
                f"{image.size[0]}x{image.size[1]} (width x height); masks must not be resized"
            )
    return None


def decode_problem(image_path: str, mask_path: Optional[str], mask_threshold: int) -> Optional[str]:
    """What is wrong with an image (and its mask) when fully decoded, as the data workers decode them, or None."""
    problem = header_problem(image_path, mask_path)
    if problem:
        return problem
    try:
        image = read_image(image_path)
        if mask_path is not None:
            check_mask_size(read_mask(mask_path, mask_threshold), image, mask_path, image_path)
    except DatasetLayoutError as error:
        return str(error)
    return None


def problems_message(problems: list[str], total: int, where: str, fix: str) -> str:
    """One error text listing up to 10 problems among `total` samples."""
    shown = "\n  ".join(problems[:10]) + (f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else "")
    return f"{where}: {len(problems)} of {total} sample(s) cannot be used:\n  {shown}\nFix: {fix}"
