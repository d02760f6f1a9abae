"""Any one image a user may hand a detector -> the model's S x S input, plus what is needed to go back.

Accepted, with the conversions applied (the same as the dataset readers', `datamodules.image_io`):
- a path (str / os.PathLike) to any file PIL decodes;
- a PIL image: 'RGB' as is; 'L', 'P', 'RGBA', 'LA', 'CMYK', '1' ... via `convert("RGB")` (grey is
  replicated to three channels, alpha is dropped, not composited); 16-bit grey ('I;16*', 'I') scaled
  by 1/65535 and replicated; 32-bit float ('F') refused, since its value range is undefined;
- a numpy array, uint8 [H, W] (grey), [H, W, 1], [H, W, 3] (RGB) or [H, W, 4] (RGBA, alpha dropped),
  or uint16 [H, W] (16-bit grey); float arrays are refused (give uint8, or a float tensor in [0, 1]);
- a torch tensor [3, H, W] / [1, H, W] / [4, H, W] / [H, W]: uint8 as above, float with values in
  [0, 1] (channel-first, no mean/std).
Images become S x S as the benchmarks' data do: PIL bilinear to S x S (aspect not kept) for files,
PIL images and uint8 data; float tensors with torch's antialiased bilinear, PIL's filter in torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from datamodules.image_io import HIGH_BIT_DEPTH_MODES
from datamodules.resize import resize_image


class ImageInputError(ValueError):
    """An image a detector cannot take as given; the message names it, what was expected and the fix."""


@dataclass
class ModelInput:
    """image: float32 [3, S, S] in [0, 1]; size: (H, W) of the original; rgb: uint8 [H, W, 3] of the original
    (for overlays); path: the file, when given one."""

    image: torch.Tensor
    size: tuple[int, int]
    rgb: np.ndarray
    path: str | None = None


def _describe(image) -> str:
    if isinstance(image, (str, os.PathLike)):
        return f"image '{image}'"
    shape = getattr(image, "shape", None) or getattr(image, "size", None)
    return f"{type(image).__name__} image of shape {tuple(shape) if shape is not None else '?'}"


def _from_pil(image: Image.Image, what: str) -> Image.Image:
    """'RGB' (uint8) or, for 16-bit grey, 'F' in [0, 1]: the dataset readers' conversions."""
    if image.mode == "F":
        raise ImageInputError(f"{what} holds 32-bit floats whose range the image does not define; save it as 8-bit or 16-bit, or pass a float tensor in [0, 1]")
    if image.mode in HIGH_BIT_DEPTH_MODES:
        values = np.asarray(image, dtype=np.float32) / 65535.0
        return Image.fromarray(np.clip(values, 0.0, 1.0))
    return image if image.mode == "RGB" else image.convert("RGB")


def _read(path: str | os.PathLike) -> Image.Image:
    try:
        with Image.open(path) as image:
            image.load()
    except FileNotFoundError:
        raise ImageInputError(f"image '{path}' does not exist; check the path") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ImageInputError(f"image '{path}' cannot be decoded ({error}); give a PNG, JPEG, BMP or TIFF file PIL can read") from None
    return image


def _from_array(array: np.ndarray, what: str) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.dtype == np.uint16 and array.ndim == 2:
        return Image.fromarray(np.clip(array.astype(np.float32) / 65535.0, 0.0, 1.0))
    if array.dtype != np.uint8:
        raise ImageInputError(f"{what} has dtype {array.dtype}; give uint8 [H, W(, 3 or 4)] (or uint16 grey), or a float tensor [3, H, W] in [0, 1]")
    if array.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(array), mode="L").convert("RGB")
    if array.ndim == 3 and array.shape[2] in (3, 4):
        image = Image.fromarray(np.ascontiguousarray(array), mode="RGB" if array.shape[2] == 3 else "RGBA")
        return image.convert("RGB")
    raise ImageInputError(f"{what}: expected [H, W], [H, W, 1], [H, W, 3] or [H, W, 4] (channels last); transpose a channel-first array or pass it as a tensor")


def _float_tensor(tensor: torch.Tensor, what: str) -> torch.Tensor:
    """Float [C, H, W] in [0, 1] -> [3, H, W]: grey replicated, alpha dropped."""
    if tensor.dim() == 2:
        tensor = tensor[None]
    if tensor.dim() != 3 or tensor.shape[0] not in (1, 3, 4):
        raise ImageInputError(f"{what}: expected a tensor [3, H, W], [1, H, W], [4, H, W] or [H, W] (channels first); permute a channels-last tensor")
    tensor = tensor.detach().float().cpu()
    if not torch.isfinite(tensor).all():
        raise ImageInputError(f"{what} holds NaN or infinite values; give finite values in [0, 1]")
    low, high = float(tensor.min()), float(tensor.max())
    if low < 0.0 or high > 1.0:
        raise ImageInputError(f"{what} has values in [{low:g}, {high:g}], expected [0, 1]; divide 8-bit values by 255 (or pass a uint8 tensor)")
    if tensor.shape[0] == 1:
        tensor = tensor.expand(3, -1, -1)
    return tensor[:3].contiguous()


def prepare(image, size: int) -> ModelInput:
    """One image (path, PIL image, numpy array or tensor, any size) -> `ModelInput` at the model's size S."""
    what = _describe(image)
    path = None
    if isinstance(image, (str, os.PathLike)):
        path = str(Path(image))
        image = _read(image)
    if isinstance(image, torch.Tensor):
        if image.dtype == torch.uint8:
            image = image.cpu().numpy()
            image = image if image.ndim == 2 else np.moveaxis(image, 0, -1)
        else:
            chw = _float_tensor(image, what)
            resized = F.interpolate(chw[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0].clamp(0, 1)
            rgb = (chw.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
            return ModelInput(resized, (chw.shape[1], chw.shape[2]), rgb, path)
    if isinstance(image, np.ndarray):
        image = _from_array(image, what)
    if not isinstance(image, Image.Image):
        raise ImageInputError(f"cannot read a {type(image).__name__} as an image; give a path, a PIL image, a numpy uint8 array [H, W, 3] or a tensor [3, H, W]")
    image = _from_pil(image, what)
    width, height = image.size
    if image.mode == "F":
        grey = (np.asarray(image) * 255 + 0.5).astype(np.uint8)
        rgb = np.repeat(grey[..., None], 3, axis=2)
    else:
        rgb = np.asarray(image)
    return ModelInput(resize_image(image, size, "reference"), (height, width), rgb, path)
