"""SigLIP 2's own model type (`siglip2`, the NaFlex towers) loads as a backbone: patches laid out as its processor
lays them, outputs equal to transformers' own on a tiny random model saved in a temporary folder."""

from __future__ import annotations

import shutil

import pytest
import torch

from lightning_modules.backbones import load_backbone
from tests.backbones.conftest import SIGLIP_FOLDER

SMALL = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)


@pytest.fixture(scope="module")
def naflex_folder(tmp_path_factory):
    from transformers import Siglip2Config, Siglip2Model

    torch.manual_seed(0)
    config = Siglip2Config(
        text_config=dict(SMALL, vocab_size=12, max_position_embeddings=64, pad_token_id=0, eos_token_id=2, projection_size=32),
        vision_config=dict(SMALL, patch_size=16, num_patches=16),
    )
    folder = tmp_path_factory.mktemp("siglip2_naflex")
    Siglip2Model(config).eval().save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "processor_config.json"):
        shutil.copy(SIGLIP_FOLDER / name, folder / name)
    return folder


def test_a_siglip2_folder_equals_transformers_own_towers(naflex_folder):
    from transformers import Siglip2Model
    from transformers.models.siglip2.image_processing_siglip2 import convert_image_to_patches

    backbone = load_backbone({"checkpoint_dir": str(naflex_folder)})
    reference = Siglip2Model.from_pretrained(str(naflex_folder)).eval()
    assert backbone.patch_size == 16 and backbone.scoring_rule.kind == "sigmoid"
    images = torch.rand(2, 3, 64, 48, generator=torch.Generator().manual_seed(1))
    patches = torch.stack([convert_image_to_patches((image - 0.5) / 0.5, 16) for image in images])
    with torch.no_grad():
        expected = reference.vision_model(
            pixel_values=patches, pixel_attention_mask=torch.ones(2, 12, dtype=torch.long), spatial_shapes=torch.tensor([[4, 3]] * 2)
        )
        first, second, tokens = backbone.encode_image(images)
        ids, _ = backbone.tokenizer(["a bad photo of a bottle."])
        text = backbone.encode_text(["a bad photo of a bottle."])
        expected_text = reference.text_model(input_ids=ids).pooler_output
    torch.testing.assert_close(first, expected.pooler_output, rtol=0, atol=1e-6)
    torch.testing.assert_close(second, expected.pooler_output, rtol=0, atol=1e-6)
    torch.testing.assert_close(tokens, expected.last_hidden_state, rtol=0, atol=1e-6)
    torch.testing.assert_close(text, expected_text, rtol=0, atol=1e-6)
