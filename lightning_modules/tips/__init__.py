"""TIPS (Google DeepMind) image and text towers, identical to the official PyTorch release."""

from .errors import TipsCheckpointError
from .presets import OFFICIAL_CHECKPOINTS, TEXT_PRESETS, VISION_PRESETS
from .text_tower import PROMPT_METHODS, TextConfig, TipsTextTower, insert_prompt_embeddings
from .spec import TipsSpec
from .tips_model import TipsModel, load_tips
from .tokenizer import TipsTokenizer
from .vision_tower import TipsVisionTower, VisionConfig

__all__ = [
    "OFFICIAL_CHECKPOINTS",
    "PROMPT_METHODS",
    "TEXT_PRESETS",
    "VISION_PRESETS",
    "TextConfig",
    "TipsCheckpointError",
    "TipsModel",
    "TipsSpec",
    "TipsTextTower",
    "TipsTokenizer",
    "TipsVisionTower",
    "VisionConfig",
    "insert_prompt_embeddings",
    "load_tips",
]
