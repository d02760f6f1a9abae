"""Decoding any PIL mode to RGB in [0, 1], binarising masks, and the reference resizing, value for value."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from datamodules.image_io import read_image, read_mask
from datamodules.resize import resize_image, resize_mask


def test_reference_resize_equals_the_reference_torchvision_pipeline(tmp_path):
    transforms = pytest.importorskip("torchvision.transforms")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (23, 37, 3), dtype=np.uint8)).save(tmp_path / "image.png")
    Image.fromarray((rng.random((23, 37)) > 0.8).astype(np.uint8) * 3).save(tmp_path / "mask.png")  # index mask
    # The reference: datasets/input_transforms.py and the mask handling of datasets/dataset.py
    image_pipeline = transforms.Compose([transforms.Resize((16, 16)), transforms.ToTensor(),
                                         transforms.Normalize((0, 0, 0), (1, 1, 1))])
    mask_pipeline = transforms.Compose([transforms.Resize((16, 16)), transforms.ToTensor()])
    expected_image = image_pipeline(Image.open(tmp_path / "image.png").convert("RGB"))
    binary = (np.array(Image.open(tmp_path / "mask.png").convert("L")) > 0).astype(np.uint8) * 255
    expected_mask = (mask_pipeline(Image.fromarray(binary)) > 0.5).float()[0]

    image = resize_image(read_image(tmp_path / "image.png"), 16)
    mask = resize_mask(read_mask(tmp_path / "mask.png", threshold=0), 16)

    assert torch.equal(image, expected_image)
    assert torch.equal(mask, expected_mask)
    assert 0 < mask.sum() < 256


@pytest.mark.parametrize(
    ("mode", "value", "expected_rgb"),
    [
        ("L", 51, (0.2, 0.2, 0.2)),
        ("RGBA", 102, (0.4, 0.4, 0.4)),  # alpha dropped
        ("1", 1, (1.0, 1.0, 1.0)),
        ("I;16", 32768, (32768 / 65535,) * 3),  # 16-bit scaled by 1/65535, not clipped at 255
    ],
)
def test_every_mode_becomes_three_channels_in_unit_range(tree, mode, value, expected_rgb):
    path = tree.image("image.png", mode=mode, value=value)

    image = resize_image(read_image(path), 8)

    assert image.shape == (3, 8, 8) and image.dtype == torch.float32
    assert torch.allclose(image, torch.tensor(expected_rgb).view(3, 1, 1).expand(3, 8, 8), atol=1e-6)


def test_palette_images_take_their_palette_colours(tmp_path):
    palette_image = Image.new("P", (4, 4), 1)
    palette_image.putpalette([0, 0, 0, 255, 0, 51])
    palette_image.save(tmp_path / "palette.png")

    image = resize_image(read_image(tmp_path / "palette.png"), 4)

    assert image[:, 0, 0].tolist() == pytest.approx([1.0, 0.0, 0.2])


def test_mask_thresholds(tmp_path):
    values = np.array([[0, 1, 2, 30], [127, 128, 200, 255]], dtype=np.uint8)
    Image.fromarray(values).save(tmp_path / "grey.png")
    palette_mask = Image.fromarray(np.array([[0, 1]], dtype=np.uint8), mode="P")
    palette_mask.putpalette([0, 0, 0, 0, 0, 1])  # index 1 is nearly black: its luminance rounds to 0
    palette_mask.save(tmp_path / "palette.png")
    Image.fromarray(np.array([[0, 2]], dtype=np.uint8)).convert("RGB").save(tmp_path / "rgb.png")

    assert read_mask(tmp_path / "grey.png", threshold=0).tolist() == [[False, True, True, True], [True] * 4]
    assert read_mask(tmp_path / "grey.png", threshold=127).tolist() == [[False] * 4, [False, True, True, True]]
    assert read_mask(tmp_path / "rgb.png", threshold=0).tolist() == [[False, True]]  # colour masks via luminance
    assert read_mask(tmp_path / "palette.png", threshold=0).tolist() == [[False, True]]  # palette masks by index


def test_letterbox_keeps_the_aspect_ratio_and_pads_with_black(tree):
    path = tree.image("wide.png", size=(20, 10), value=255)
    mask = np.ones((10, 20), dtype=bool)

    image = resize_image(read_image(path), 16, mode="letterbox")
    resized_mask = resize_mask(mask, 16, mode="letterbox")

    assert image[0, :, 0].tolist() == [0.0] * 4 + [1.0] * 8 + [0.0] * 4
    assert resized_mask[:, 0].tolist() == [0.0] * 4 + [1.0] * 8 + [0.0] * 4


def test_unreadable_files_raise_naming_the_file(tmp_path):
    from datamodules import DatasetLayoutError

    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DatasetLayoutError, match=r"image '.*/broken.png' cannot be decoded .* Fix: re-download"):
        read_image(tmp_path / "broken.png")
    with pytest.raises(DatasetLayoutError, match=r"mask '.*/gone.png' does not exist"):
        read_mask(tmp_path / "gone.png", threshold=0)
    Image.fromarray(np.full((2, 2), 0.5, dtype=np.float32)).save(tmp_path / "float.tif")
    with pytest.raises(DatasetLayoutError, match=r"image '.*/float.tif' holds 32-bit floats, whose range"):
        read_image(tmp_path / "float.tif")
