"""The method's boundary: every constructor argument and every forward input is checked before any work."""

import pytest
import torch

from lightning_modules import Tipsomaly, TipsSpec
from lightning_modules.tipsomaly import TipsomalyModel
from tests.conftest import tiny_files


def _module(**options):
    return Tipsomaly(backbone=TipsSpec(**tiny_files("mlp")), **options)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"image_size": 500}, r"image_size=500; expected a multiple of the patch size 14; e.g. 504"),
        ({"loss": "dice"}, r"loss='dice'; expected one of seg, cls, both"),
        ({"image_token": "third"}, r"image_token='third'; expected one of first, second"),
        ({"n_prompt": 2.5}, r"n_prompt=2.5; expected an integer >= 1"),
        ({"n_prompt": 0}, r"n_prompt=0; expected an integer >= 1"),
        ({"n_deep": 2}, r"n_deep, d_deep=\(2, 0\); expected both > 0 \(deep prompts on\) or both 0"),
        ({"betas": (0.5,)}, r"betas=\(0.5,\); expected two numbers"),
        ({"betas": (0.5, 1.0)}, r"expected two numbers in \[0, 1\)"),
        ({"sigma": float("nan")}, r"sigma=nan; expected a finite number"),
        ({"sigma": -1.0}, r"sigma=-1.0; expected a number in \[0.0, inf\)"),
        ({"lr": 0.0}, r"lr=0.0; expected a number in \(0.0, inf\)"),
        ({"aupro": "pro"}, r"aupro='pro'; expected one of mvtec, reference"),
        ({"fixed_prompts": "dental"}, r"fixed_prompts='dental'; expected one of industrial, medical, object_agnostic"),
        ({"prompt_method": "prefix"}, r"prompt_method='prefix'; expected one of concat, sumate, entire_learnable, none"),
        ({"feature_cache": "disk"}, r"feature_cache_dir=None; expected a folder for feature_cache='disk'"),
        ({"local_to_global": "yes"}, r"local_to_global='yes'; expected true or false"),
    ],
)
def test_bad_arguments_are_refused_at_construction(options, message):
    with pytest.raises(ValueError, match=message):
        _module(**options)


@pytest.fixture(scope="module")
def model(tiny_tips):
    return TipsomalyModel(tiny_tips("mlp"))


@pytest.mark.parametrize(
    "images, names, message",
    [
        (torch.randint(0, 255, (1, 3, 28, 28), dtype=torch.uint8), ["a"], r"images are torch.uint8, expected float in \[0, 1\]; convert with images.float\(\) / 255"),
        (torch.rand(1, 3, 28, 28) * 255, ["a"], r"image values span \[.*\], expected \[0, 1\]; divide 0-255 images by 255"),
        (torch.full((1, 3, 28, 28), float("nan")), ["a"], r"images hold NaN values"),
        (torch.rand(2, 3, 28, 28), ["a"], r"2 images but 1 class names; give one class name per image"),
        (torch.rand(1, 3, 28, 28), "bottle", r"class names must be a list of strings, one per image, got 'bottle'"),
        (torch.rand(3, 28, 28), ["a"], r"images must be \[B, 3, H, W\], got shape \(3, 28, 28\)"),
    ],
)
def test_bad_forward_inputs_are_refused(model, images, names, message):
    with pytest.raises(ValueError, match=message):
        model(images, names)


def test_batches_of_another_size_than_image_size_are_refused():
    module = _module(image_size=28)
    with pytest.raises(ValueError, match="batch images are 56 px but the model runs at image_size=28"):
        module._check_size(torch.rand(1, 3, 56, 56))
