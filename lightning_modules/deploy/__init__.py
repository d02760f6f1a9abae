"""From benchmark to inspection line: decision thresholds, a single-image detector, ONNX export of the image side."""

from .calibration import calibrate_labelled, calibrate_normal
from .detector import Detection, Detector
from .image_input import ImageInputError
from .thresholds import Thresholds, ThresholdsError, load_thresholds, save_thresholds

__all__ = [
    "Detection",
    "Detector",
    "ImageInputError",
    "Thresholds",
    "ThresholdsError",
    "calibrate_labelled",
    "calibrate_normal",
    "load_thresholds",
    "save_thresholds",
]
