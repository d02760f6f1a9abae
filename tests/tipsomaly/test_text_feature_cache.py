"""Fixed-prompt text features persist across runs, keyed on exactly the backbone, the sentences and the precision."""

import torch

from lightning_modules import Tipsomaly, TipsSpec
from lightning_modules.tipsomaly import TipsomalyModel
from lightning_modules.tipsomaly.text_feature_cache import TextFeatureCache
from tests.conftest import tiny_files


def _counting(tips, monkeypatch):
    calls = []
    original = tips.encode_text

    def encode(sentences):
        calls.append(list(sentences))
        return original(sentences)

    monkeypatch.setattr(tips, "encode_text", encode)
    return calls


def test_a_second_model_never_encodes_the_fixed_prompts_again(tiny_tips, tmp_path, monkeypatch):
    tips = tiny_tips("mlp")
    calls = _counting(tips, monkeypatch)
    first = TipsomalyModel(tips, text_cache=TextFeatureCache(tmp_path), prompt_method="none")
    features = first.text_bank.fixed(["bottle", "metal nut"])
    assert len(calls) == 4  # 2 classes x (normal, abnormal)
    again = TipsomalyModel(tips, text_cache=TextFeatureCache(tmp_path), prompt_method="none")  # another run
    torch.testing.assert_close(again.text_bank.fixed(["bottle", "metal nut"]), features, rtol=0, atol=0)
    assert len(calls) == 4 and again.text_bank.text_cache.hits == 4
    uncached = TipsomalyModel(tips, prompt_method="none").text_bank.fixed(["bottle", "metal nut"])
    torch.testing.assert_close(uncached, features, rtol=0, atol=0)  # bit for bit


def test_every_key_part_makes_another_entry(tiny_tips, tmp_path, monkeypatch):
    cache = TextFeatureCache(tmp_path)
    TipsomalyModel(tiny_tips("mlp"), text_cache=cache).text_bank.fixed(["bottle"])
    entries = set(tmp_path.iterdir())
    assert len(entries) == 2
    TipsomalyModel(tiny_tips("mlp"), text_cache=cache).text_bank.fixed(["cable"])  # other sentences
    TipsomalyModel(tiny_tips("mlp"), text_cache=cache, fixed_prompts="medical").text_bank.fixed(["bottle"])  # other family
    TipsomalyModel(tiny_tips("swiglu"), text_cache=cache).text_bank.fixed(["bottle"])  # other backbone
    assert len(set(tmp_path.iterdir())) == 2 + 3 * 2
    from lightning_modules.tips import load_tips

    half = load_tips(**tiny_files("mlp"), dtype=torch.bfloat16)  # other precision
    TipsomalyModel(half, text_cache=cache).text_bank.fixed(["bottle"])
    assert len(set(tmp_path.iterdir())) == 2 + 4 * 2 and cache.misses == 10 and cache.hits == 0


def test_a_damaged_entry_or_an_unwritable_folder_costs_a_warning_not_the_run(tiny_tips, tmp_path):
    import pytest

    cache = TextFeatureCache(tmp_path / "cache")
    expected = TipsomalyModel(tiny_tips("mlp"), text_cache=cache).text_bank.fixed(["bottle"])
    for entry in (tmp_path / "cache").iterdir():
        entry.write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="unreadable .* encoding again"):
        again = TipsomalyModel(tiny_tips("mlp"), text_cache=TextFeatureCache(tmp_path / "cache")).text_bank.fixed(["bottle"])
    torch.testing.assert_close(again, expected, rtol=0, atol=0)
    (tmp_path / "file").write_text("a file, not a folder")
    with pytest.warns(UserWarning, match="cannot be written"):
        blocked = TipsomalyModel(tiny_tips("mlp"), text_cache=TextFeatureCache(tmp_path / "file" / "cache")).text_bank.fixed(["bottle"])
    torch.testing.assert_close(blocked, expected, rtol=0, atol=0)


def test_the_module_keeps_its_text_cache_beside_the_disk_feature_cache(tmp_path):
    module = Tipsomaly(backbone=TipsSpec(**tiny_files("mlp")), feature_cache="disk", feature_cache_dir=str(tmp_path))
    module(torch.rand(1, 3, 28, 28), ["bottle"])
    assert len(list((tmp_path / "text_features").iterdir())) == 2
    assert Tipsomaly(backbone=TipsSpec(**tiny_files("mlp")), feature_cache="off").model.text_bank.text_cache is None


def test_the_detector_reads_fixed_prompts_from_the_cache_of_an_earlier_run(tiny_tips, tmp_path, monkeypatch):
    from lightning_modules.deploy import Detector

    monkeypatch.setenv("TIPSOMALY_CACHE_DIR", str(tmp_path))
    tips = tiny_tips("mlp")
    first = Detector.load(None, backbone=tips, class_name="bottle", image_size=56)
    score = first(torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(0))).score
    calls = _counting(tips, monkeypatch)
    second = Detector.load(None, backbone=tips, class_name="bottle", image_size=56)
    assert second(torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(0))).score == score and calls == []
