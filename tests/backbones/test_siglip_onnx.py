"""The ONNX export of the image side runs for SigLIP too and equals PyTorch under onnxruntime."""

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from datamodules.class_names import prompt_class_name  # noqa: E402
from lightning_modules.deploy.onnx_export import ExportError, OnnxDetector, export_onnx  # noqa: E402
from lightning_modules.tipsomaly import TipsomalyModel, load_prompt_checkpoint  # noqa: E402
from tests.backbones.conftest import SIGLIP_DATA  # noqa: E402

SIZE = 64  # 4 x 4 patches of 16
PARITY = 1e-5
CLASSES = ["bottle", "metal_nut"]


def test_a_siglip_export_equals_pytorch(tiny_siglip, tmp_path):
    model = TipsomalyModel(tiny_siglip, n_prompt=8)
    model.prompts.load_checkpoint(load_prompt_checkpoint(SIGLIP_DATA / "prompts.pth", expected_width=64), "prompts.pth")
    model.prompts_changed()
    onnx = OnnxDetector(export_onnx(model, tmp_path / "siglip.onnx", CLASSES, SIZE))
    images = torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    names = ["bottle", "metal_nut", "bottle"]
    score, maps = onnx(images.numpy(), names)
    with torch.no_grad():
        expected = model(images, [prompt_class_name("", name) for name in names])  # as the export says them
    np.testing.assert_allclose(score, expected.pred_score.numpy(), rtol=0, atol=PARITY)
    np.testing.assert_allclose(maps, expected.anomaly_map.numpy(), rtol=0, atol=PARITY)


def test_an_export_size_off_the_siglip_grid_is_refused(tiny_siglip, tmp_path):
    with pytest.raises(ExportError, match="image_size 56 is not a multiple of 16; e.g. 64"):
        export_onnx(TipsomalyModel(tiny_siglip, prompt_method="none"), tmp_path / "x.onnx", CLASSES, 56)
