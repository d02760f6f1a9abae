"""The one input contract of every scoring entry point: images are float [B, 3, H, W] with values in [0, 1].

TIPS reads pixels in [0, 1]. A resize's overshoot of a few thousandths is harmless; 0-255 values, NaN or
mean/std-normalised images lie far outside and would be encoded as different, wrong images. The backbone's
`encode_image`, `TipsomalyModel.forward`, the `Detector`, the `OnnxDetector` and `predict` all call this one
function, so they refuse exactly the same inputs.
"""

from __future__ import annotations

import math

import torch

VALUE_TOLERANCE = 0.01


def check_image_batch(images, where: str = "images", error: type[Exception] = ValueError, check_range: bool = True) -> None:
    """Raise `error` (a one-line message starting with `where`) unless `images` is float [B, 3, H, W] in [0, 1].

    Accepts torch tensors and numpy arrays. Reading the range synchronises with the device: `check_range=False`
    skips it where the images are in range by construction (our datasets' loaders).
    """
    shape = getattr(images, "shape", None)
    if shape is None or not hasattr(images, "dtype"):
        raise error(f"{where}: images must be a float tensor [B, 3, H, W] in [0, 1], got {type(images).__name__}")
    if len(shape) != 4 or shape[1] != 3:
        raise error(f"{where}: images must be [B, 3, H, W], got shape {tuple(shape)}; give float values in [0, 1], with a batch dimension, in RGB")
    tensor = images if isinstance(images, torch.Tensor) else torch.as_tensor(images)
    if not tensor.is_floating_point():
        raise error(f"{where}: images are {images.dtype}, expected float in [0, 1]; convert with images.float() / 255")
    if check_range:
        check_value_range(tensor, where, error)


def check_value_range(images: torch.Tensor, where: str = "images", error: type[Exception] = ValueError) -> None:
    """Refuse NaN and values outside [0 - 0.01, 1 + 0.01] (see VALUE_TOLERANCE)."""
    if images.numel() == 0:
        return
    low, high = (float(v) for v in torch.aminmax(images.detach().float()))
    if math.isnan(low) or math.isnan(high):
        raise error(f"{where}: images hold NaN values; expected float values in [0, 1]. Fix: check the image loading")
    if math.isinf(low) or math.isinf(high) or low < -VALUE_TOLERANCE or high > 1 + VALUE_TOLERANCE:
        hint = "divide 0-255 images by 255" if high > 2 else "do not normalise with a mean and std; TIPS takes [0, 1]"
        raise error(f"{where}: image values span [{low:.3g}, {high:.3g}], expected [0, 1]; {hint}")
