"""Bringing an image and its mask to the model's S x S input.

"reference" (the default) reproduces the reference pipeline (torchvision Resize((S, S)), ToTensor, and a
Normalize with mean 0 / std 1, which changes nothing) value for value:
    image  PIL bilinear resize of the 8-bit RGB image to S x S, aspect not kept, then /255: float in [0, 1];
    mask   the binary mask as a 0/255 'L' image, PIL bilinear to S x S, then /255 > 0.5 (resized value >= 128).
"letterbox" keeps the aspect ratio: the longer side becomes S with the same PIL bilinear and the result is
    centred on a black S x S canvas; the mask is treated alike, its padding counted as normal pixels.
"""

from __future__ import annotations

from typing import Literal, Optional

import numpy as np
import torch
from PIL import Image

ResizeMode = Literal["reference", "letterbox"]
RESIZE_MODES: tuple[str, ...] = ("reference", "letterbox")


def _fit(image: Image.Image, size: int, mode: str) -> Image.Image:
    if mode == "reference":
        return image.resize((size, size), Image.Resampling.BILINEAR)
    if mode == "letterbox":
        width, height = image.size
        scale = size / max(width, height)
        inner = (max(1, round(width * scale)), max(1, round(height * scale)))
        canvas = Image.new(image.mode, (size, size), 0)
        canvas.paste(image.resize(inner, Image.Resampling.BILINEAR), ((size - inner[0]) // 2, (size - inner[1]) // 2))
        return canvas
    raise ValueError(f"unknown resize mode '{mode}'; expected one of {', '.join(RESIZE_MODES)}.")


def resize_image(image: Image.Image, size: int, mode: str = "reference") -> torch.Tensor:
    """Float32 [3, size, size] in [0, 1] from an 'RGB' (uint8) or 'F' (grey in [0, 1]) image."""
    resized = np.asarray(_fit(image, size, mode), dtype=np.float32)
    if image.mode == "F":
        grey = torch.from_numpy(np.clip(resized, 0.0, 1.0))
        return grey.unsqueeze(0).expand(3, -1, -1).contiguous()
    if image.mode != "RGB":
        raise ValueError(f"resize_image takes 'RGB' or 'F' images (see image_io.read_image), got mode '{image.mode}'.")
    return torch.from_numpy(resized / 255.0).permute(2, 0, 1).contiguous()


def resize_mask(mask: Optional[np.ndarray], size: int, mode: str = "reference") -> torch.Tensor:
    """Float32 [size, size] of {0, 1} from a bool [H, W] mask; None (no mask) gives all zeros."""
    if mask is None:
        return torch.zeros(size, size)
    as_image = Image.fromarray(mask.astype(np.uint8) * 255)  # uint8 2-D -> mode L
    resized = np.asarray(_fit(as_image, size, mode))
    return torch.from_numpy(resized > 127).float()  # v / 255 > 0.5  <=>  v >= 128 for integer v
