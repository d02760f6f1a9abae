"""ONNX export of the image side equals PyTorch under onnxruntime (CPU), for any batch size.

Measured (this CPU, float32): tiny fixtures at 56 px, max |score diff| 1.4e-6, max |map diff| 1.7e-6;
random official-format S/14 at 224 px, 2.4e-7 and 1.5e-6. Tested bound: PARITY = 1e-5 on both.
"""

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from lightning_modules.deploy import Detector, calibrate_normal  # noqa: E402
from lightning_modules.deploy.onnx_export import ExportError, OnnxDetector, export_onnx  # noqa: E402
from lightning_modules.deploy.thresholds import ThresholdsError  # noqa: E402
from lightning_modules.tips import load_tips  # noqa: E402
from tests.conftest import fixture_images  # noqa: E402
from tests.deploy.conftest import TINY_SIZE, write_prompt_file  # noqa: E402
from tests.official_format import write_random_checkpoint  # noqa: E402

PARITY = 1e-5
CLASSES = ["bottle", "metal_nut"]


def _torch_outputs(detector, images, names):
    with torch.no_grad():
        out = detector.model(images, names, fixed_prompts=detector.fixed_prompts)
    return out.pred_score.numpy(), out.anomaly_map.numpy()


def _assert_parity(onnx, detector, images, names):
    score, maps = onnx(images.numpy(), names)
    expected_score, expected_maps = _torch_outputs(detector, images, names)
    assert score.shape == (len(images),) and maps.shape == tuple(expected_maps.shape)
    np.testing.assert_allclose(score, expected_score, atol=PARITY, rtol=0)
    np.testing.assert_allclose(maps, expected_maps, atol=PARITY, rtol=0)


@pytest.fixture(scope="module", params=["mlp", "swiglu"])
def tiny_export(request, tmp_path_factory, tiny_tips):
    folder = tmp_path_factory.mktemp(f"onnx_{request.param}")
    width = tiny_tips(request.param).text_width
    prompts = write_prompt_file(folder / "learnable_prompts_epoch1.pt", width=width)
    detector = Detector.load(prompts, backbone=tiny_tips(request.param), class_name="bottle")
    metadata = {"provenance": detector.provenance.__dict__}
    path = export_onnx(detector.model, folder / "model.onnx", CLASSES, TINY_SIZE, metadata=metadata)
    return detector, OnnxDetector(path)


@pytest.mark.parametrize("batch", [1, 3])
def test_tiny_exports_equal_pytorch_at_any_batch_size(tiny_export, batch):
    detector, onnx = tiny_export
    images = torch.rand(batch, 3, TINY_SIZE, TINY_SIZE, generator=torch.Generator().manual_seed(batch))
    names = [CLASSES[i % 2] for i in range(batch)]
    _assert_parity(onnx, detector, images, names)


def test_fixture_photos_score_per_class_as_in_pytorch(tiny_export):
    detector, onnx = tiny_export
    images = fixture_images(TINY_SIZE)
    _assert_parity(onnx, detector, images, ["metal_nut", "bottle"])
    # the class input matters: the same images under the other class score differently
    assert not np.allclose(onnx(images.numpy(), ["bottle", "metal_nut"])[0], onnx(images.numpy(), ["metal_nut", "bottle"])[0])


def test_a_class_without_precomputed_features_is_refused(tiny_export):
    _, onnx = tiny_export
    with pytest.raises(ExportError, match="no precomputed text features for class 'cable'.*export again"):
        onnx(np.zeros((1, 3, TINY_SIZE, TINY_SIZE), np.float32), ["cable"])


def test_images_at_another_size_are_refused(tiny_export):
    _, onnx = tiny_export
    with pytest.raises(ExportError, match=r"images must be \[B, 3, 56, 56\]"):
        onnx(np.zeros((1, 3, 112, 112), np.float32), ["bottle"])


def test_thresholds_are_checked_against_the_exported_models_provenance(tiny_export, tiny_tips):
    detector, onnx = tiny_export
    normals = [np.full((40, 40, 3), v, np.uint8) for v in (90, 120, 150)]
    onnx.check_thresholds(calibrate_normal(detector, normals, quantile=0.5))
    fixed_only = Detector.load(None, backbone=detector.model.tips, class_name="bottle", image_size=TINY_SIZE)
    with pytest.raises(ThresholdsError, match="prompt file"):
        onnx.check_thresholds(calibrate_normal(fixed_only, normals, quantile=0.5))


def test_a_single_class_export_takes_images_only(tiny_tips, tmp_path):
    prompts = write_prompt_file(tmp_path / "p.pt")
    detector = Detector.load(prompts, backbone=tiny_tips("mlp"), class_name="bottle")
    onnx = OnnxDetector(export_onnx(detector.model, tmp_path / "one.onnx", ["bottle"], TINY_SIZE))
    assert [i.name for i in onnx.session.get_inputs()] == ["images"]
    images = torch.rand(2, 3, TINY_SIZE, TINY_SIZE)
    _assert_parity(onnx, detector, images, ["bottle", "bottle"])
    np.testing.assert_array_equal(onnx(images.numpy())[0], onnx(images.numpy(), ["bottle", "bottle"])[0])


def test_random_official_format_s14_export_equals_pytorch(tmp_path):
    tips = load_tips(**write_random_checkpoint(tmp_path / "checkpoints"))
    assert (tips.vision.config.embed_dim, tips.vision.config.depth, tips.vision.config.num_heads) == (384, 12, 6)
    prompts = write_prompt_file(tmp_path / "p.pt", width=384, image_size=224)
    detector = Detector.load(prompts, backbone=tips, class_name="bottle")
    onnx = OnnxDetector(export_onnx(detector.model, tmp_path / "s14.onnx", CLASSES, 224))
    images = torch.rand(3, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    _assert_parity(onnx, detector, images, ["bottle", "metal_nut", "bottle"])
