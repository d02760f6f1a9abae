"""`TipsModel.encode_image` / `encode_text` refuse inputs they would encode wrongly, in one line with the fix."""

from __future__ import annotations

import pytest
import torch

from lightning_modules.tips import TipsCheckpointError


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.randint(0, 256, (1, 3, 28, 28), dtype=torch.uint8), r"images are torch\.uint8, expected float in \[0, 1\]; convert with images\.float\(\) / 255"),
        (torch.full((1, 3, 28, 28), 200.0), r"image values span \[200, 200\], expected \[0, 1\]; divide 0-255 images by 255"),
        (torch.full((1, 3, 28, 28), -1.5), r"image values span \[-1\.5, -1\.5\], expected \[0, 1\]; do not normalise with a mean and std"),
        (torch.full((1, 3, 28, 28), float("nan")), r"images hold NaN values"),
        ([[0.5]], r"images must be a float tensor \[B, 3, H, W\] in \[0, 1\], got list"),
    ],
)
def test_images_outside_the_unit_range_are_refused(tiny_tips, images, message):
    with pytest.raises(TipsCheckpointError, match=message):
        tiny_tips("mlp").encode_image(images)


def test_a_resize_overshoot_is_accepted(tiny_tips):
    images = torch.rand(1, 3, 28, 28).clamp(0.1, 0.9)
    images[0, 0, 0, 0], images[0, 0, 0, 1] = -0.005, 1.005  # what bicubic resampling can produce
    first, second, patches = tiny_tips("mlp").encode_image(images)
    assert first.shape == second.shape == (1, 64) and patches.shape == (1, 4, 64)


@pytest.mark.parametrize("sentences", [[], ["a photo", 3], None])
def test_sentences_must_be_strings(tiny_tips, sentences):
    with pytest.raises(TipsCheckpointError, match=r"sentences must be a string or a non-empty list of strings"):
        tiny_tips("mlp").encode_text(sentences)
