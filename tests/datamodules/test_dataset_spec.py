"""DatasetSpec: per-format defaults, plain-dict input, and parsing from YAML as LightningCLI does."""

from __future__ import annotations

import pytest

from datamodules import AnomalyDataModule, DatasetLayoutError, DatasetSpec


@pytest.mark.parametrize(
    ("format", "levels", "fixed_prompts", "mask_threshold"),
    [
        ("mvtec", "both", None, 0),
        ("visa", "both", None, 0),
        ("btad", "both", None, 0),
        ("ksdd", "both", None, 0),
        ("dagm", "both", None, 0),
        ("meta_json", "both", None, 0),
        ("headct", "image", "medical", 0),
        ("brainmri", "image", "medical", 0),
        ("br35h", "image", "medical", 0),
        ("isic", "pixel", None, 0),  # the model's family (industrial in the paper), as the reference protocol
        ("colondb", "pixel", None, 0),  # as the reference protocol
        ("clinicdb", "pixel", None, 0),  # as the reference protocol
        ("tn3k", "pixel", None, 127),
        ("folder", "image", None, 0),
    ],
)
def test_defaults_per_format(format, levels, fixed_prompts, mask_threshold):
    spec = DatasetSpec(name="x", format=format, root="/data/x")

    assert (spec.levels, spec.fixed_prompts, spec.mask_threshold) == (levels, fixed_prompts, mask_threshold)
    assert (spec.image_level, spec.pixel_level) == (levels != "pixel", levels != "image")


def test_folder_with_masks_is_both_levels_and_explicit_values_win():
    assert DatasetSpec("own", "folder", "/d", options={"mask_dir": "gt"}).levels == "both"
    spec = DatasetSpec("head", "headct", "/d", fixed_prompts="industrial", mask_threshold=10)
    assert (spec.fixed_prompts, spec.levels, spec.mask_threshold) == ("industrial", "image", 10)
    spec = DatasetSpec("isic", "isic", "/d", fixed_prompts="medical")
    assert (spec.fixed_prompts, spec.levels) == ("medical", "pixel")
    assert DatasetSpec("m", "mvtec", "/d", levels="image").levels == "image"


def test_plain_mappings_become_specs_and_bad_keys_are_named():
    spec = DatasetSpec.coerce({"name": "visa", "format": "visa", "root": "/data/visa", "classes": ["pcb1"]})

    assert spec == DatasetSpec("visa", "visa", "/data/visa", classes=["pcb1"])
    with pytest.raises(DatasetLayoutError, match=r"unknown key\(s\) \['path'\], missing key\(s\) \['root'\]"):
        DatasetSpec.coerce({"name": "visa", "format": "visa", "path": "/data/visa"})
    with pytest.raises(DatasetLayoutError, match=r"dataset 'v': unknown format 'VisA'; expected one of mvtec, visa"):
        DatasetSpec("v", "VisA", "/data/visa")


def test_lightning_cli_yaml_parses_into_specs():
    jsonargparse = pytest.importorskip("jsonargparse")
    parser = jsonargparse.ArgumentParser()
    parser.add_class_arguments(AnomalyDataModule, "data")

    config = parser.parse_string(
        "data:\n"
        "  train_sets: [{name: mvtec, format: mvtec, root: /data/mvtec}]\n"
        "  test_sets:\n"
        "    - {name: visa, format: visa, root: /data/visa, classes: [pcb1]}\n"
        "    - {name: headct, format: headct, root: /data/head_ct}\n"
        "  image_size: 336\n"
    )
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes  # renamed in jsonargparse 4.49
    data = instantiate(config).data

    assert data.train_sets == [DatasetSpec("mvtec", "mvtec", "/data/mvtec")]
    assert [spec.name for spec in data.test_sets] == ["visa", "headct"]
    assert (data.test_sets[0].classes, data.test_sets[1].fixed_prompts, data.image_size) == (["pcb1"], "medical", 336)
