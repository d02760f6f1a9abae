"""DatasetSpec refuses bad fields at construction, in one line naming the value, the expectation and the fix."""

from __future__ import annotations

import pytest

from datamodules import DatasetLayoutError, DatasetSpec
from datamodules.spec import FIXED_PROMPT_FAMILIES


def test_a_single_class_string_is_one_class_not_letters():
    assert DatasetSpec("s", "mvtec", "/d", classes="round_object").classes == ["round_object"]


def test_the_prompt_families_named_here_are_the_models():
    from lightning_modules.tipsomaly.fixed_prompts import ENSEMBLES

    assert set(FIXED_PROMPT_FAMILIES) == set(ENSEMBLES)


def test_folder_with_masks_may_be_pixel_level():
    spec = DatasetSpec("own", "folder", "/d", levels="pixel", options={"mask_dir": "gt", "normal_dir": "ok"})
    assert (spec.levels, spec.options) == ("pixel", {"mask_dir": "gt", "normal_dir": "ok"})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, r"dataset name '': expected a non-empty string"),
        ({"name": 3}, r"dataset name 3: expected a non-empty string"),
        ({"name": "mean"}, r"dataset name 'mean' is reserved for the mean rows"),
        ({"format": "VisA"}, r"unknown format 'VisA'; expected one of mvtec, visa.*did you mean 'visa'\?"),
        ({"format": "mvtec_ad"}, r"unknown format 'mvtec_ad'.*did you mean 'mvtec'\?"),
        ({"root": None}, r"dataset 's': root None; expected the dataset folder as a path string"),
        ({"root": ""}, r"root ''; expected the dataset folder"),
        ({"classes": []}, r"classes is an empty list, which keeps nothing; omit it"),
        ({"classes": {"bottle": 1}}, r"classes \{'bottle': 1\}; expected a list of class names"),
        ({"classes": [1, 2]}, r"classes\[0\] is 1 \(int\); expected a class folder name as a string.*quote it"),
        ({"classes": ["pcb1", "pcb1"]}, r"classes lists \['pcb1'\] more than once"),
        ({"fixed_prompts": "Industrial"}, r"fixed_prompts 'Industrial'; expected one of industrial, medical, object_agnostic"),
        ({"levels": "pixels"}, r"levels 'pixels'; expected image, pixel or both"),
        ({"class_names": ["metal nut"]}, r"class_names \['metal nut'\]; expected a mapping of reader class name"),
        ({"class_names": {"metal_nut": ""}}, r"class_names .*expected a mapping .*non-empty strings"),
        ({"allow_missing_masks": "false"}, r"allow_missing_masks='false'; expected true or false"),
        ({"mask_threshold": 0.5}, r"mask_threshold 0\.5; expected an integer in 0\.\.254 on the 0-255 mask scale"),
        ({"mask_threshold": 255}, r"mask_threshold 255; expected an integer in 0\.\.254"),
        ({"mask_threshold": -1}, r"mask_threshold -1; expected an integer"),
        ({"mask_threshold": True}, r"mask_threshold True; expected an integer"),
        ({"options": {"normal_dir": "ok"}}, r"format 'mvtec' takes no option\(s\) \['normal_dir'\]; its options are none"),
        ({"options": {"allow_missing_masks": True}}, r"repeat a field of the spec; set allow_missing_masks"),
        ({"options": "mask_dir=gt"}, r"options 'mask_dir=gt'; expected a mapping of option name -> value"),
    ],
)
def test_bad_field_is_refused_at_construction(fields, message):
    with pytest.raises(DatasetLayoutError, match=message):
        DatasetSpec(**({"name": "s", "format": "mvtec", "root": "/d"} | fields))


@pytest.mark.parametrize(
    ("format", "fields", "message"),
    [
        ("headct", {"levels": "both"}, r"levels 'both' asks for pixel metrics but format 'headct' has no masks here; use levels: image"),
        ("folder", {"levels": "pixel"}, r"format 'folder' has no masks here; give options \{mask_dir: \.\.\.\}"),
        ("br35h", {"allow_missing_masks": True}, r"format 'br35h' has no masks, so allow_missing_masks=True does not apply"),
        ("visa", {"options": {"split_csv": "x.csv", "csv": "y"}}, r"format 'visa' takes no option\(s\) \['csv'\]; its options are \['split_csv'\]"),
    ],
)
def test_fields_that_contradict_the_format_are_refused(format, fields, message):
    with pytest.raises(DatasetLayoutError, match=message):
        DatasetSpec("s", format, "/d", **fields)


def test_image_metrics_on_an_all_anomalous_format_warn_that_they_are_undefined():
    with pytest.warns(UserWarning, match=r"every isic image is anomalous, so image AUROC/AP/F1 are undefined"):
        spec = DatasetSpec("isic", "isic", "/d", levels="both")
    assert spec.levels == "both"


def test_a_spec_that_is_not_a_mapping_says_how_to_write_one():
    with pytest.raises(DatasetLayoutError, match=r"got str: 'visa'; write each set as \{name: \.\.\., format"):
        DatasetSpec.coerce("visa")


def test_class_name_overrides_must_name_classes_of_the_set(tree):
    tree.image("bottle/test/good/000.png")
    spec = DatasetSpec("m", "mvtec", str(tree.root), class_names={"botle": "glass bottle"})
    with pytest.raises(DatasetLayoutError, match=r"class_names overrides \['botle'\] name no class read .*classes are \['bottle'\]"):
        spec.read_samples()
    assert len(DatasetSpec("m", "mvtec", str(tree.root), class_names={"bottle": "glass bottle"}).read_samples()) == 1
