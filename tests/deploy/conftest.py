"""Tiny learned-prompt files and detectors over the tiny TIPS fixtures (width 64, 4 heads)."""

from __future__ import annotations

import pytest
import torch

from lightning_modules.tipsomaly import PromptCheckpoint, save_prompt_checkpoint

TINY_SIZE = 56  # 4 x 4 patches: fast on a CPU


def write_prompt_file(path, width: int = 64, image_size: int = TINY_SIZE, seed: int = 0) -> str:
    """Random 'learned' prompts of the given width, saved as training would save them."""
    generator = torch.Generator().manual_seed(seed)
    normal, abnormal = (torch.randn(8, width, generator=generator) * 0.02 for _ in range(2))
    settings = {"prompt_method": "concat", "n_prompt": 8, "width": width, "image_size": image_size, "fixed_prompts": "industrial"}
    save_prompt_checkpoint(path, PromptCheckpoint(normal, abnormal, settings))
    return str(path)


@pytest.fixture
def prompt_file(tmp_path) -> str:
    return write_prompt_file(tmp_path / "prompts" / "learnable_prompts_epoch1.pt")


@pytest.fixture
def detector(prompt_file, tiny_tips):
    from lightning_modules.deploy import Detector

    return Detector.load(prompt_file, backbone=tiny_tips("mlp"), class_name="bottle")
