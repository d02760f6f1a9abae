"""ONNX export of the image side equals PyTorch under onnxruntime (CPU), for any batch size.

Measured (this CPU, float32): tiny fixtures at 56 px, max |score diff| 1.4e-6, max |map diff| 1.7e-6;
random official-format S/14 at 224 px, 2.4e-7 and 1.5e-6. Tested bound: PARITY = 1e-5 on both.
"""

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from datamodules.class_names import prompt_class_name  # noqa: E402
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
    words = [prompt_class_name("", name) for name in names]  # `metal_nut` -> `metal nut`, as the export says it
    with torch.no_grad():
        out = detector.model(images, words, fixed_prompts=detector.fixed_prompts)
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
    path = export_onnx(detector.model, folder / "model.onnx", CLASSES, TINY_SIZE)
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
    assert onnx.info["provenance"] == detector.provenance  # the export writes the model's own provenance
    with pytest.raises(ThresholdsError, match="there, 'fixed prompts only' here|'fixed prompts only' there"):
        onnx.check_thresholds(calibrate_normal(fixed_only, normals, quantile=0.5))


@pytest.mark.parametrize(
    "images, message",
    [
        (np.full((1, 3, TINY_SIZE, TINY_SIZE), 128, np.uint8), "images are (torch.)?uint8, expected float in \\[0, 1\\]"),
        (np.full((1, 3, TINY_SIZE, TINY_SIZE), 128.0, np.float32), "divide 0-255 images by 255"),
        (np.full((1, 3, TINY_SIZE, TINY_SIZE), np.nan, np.float32), "images hold NaN values"),
    ],
)
def test_the_exported_model_refuses_what_the_models_forward_refuses(tiny_export, images, message):
    detector, onnx = tiny_export
    with pytest.raises(ExportError, match=message):
        onnx(images, ["bottle"])
    with pytest.raises(ValueError, match=message):
        detector.model(torch.from_numpy(images), ["bottle"])


def test_a_truncated_or_foreign_file_is_one_clear_line(tiny_export, tmp_path):
    _, onnx = tiny_export
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes(onnx.path.read_bytes()[:5000])
    (tmp_path / "text.onnx").write_text("not a model")
    for path in (truncated, tmp_path / "text.onnx"):
        with pytest.raises(ExportError, match=r"not a readable ONNX model .*truncated or not ONNX") as error:
            OnnxDetector(path)
        assert "\n" not in str(error.value)


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
