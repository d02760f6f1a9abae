"""Names that become folders of the results (set names, class names) are refused before any work when they
could leave the results folder."""

import json

import pytest

from datamodules import DatasetLayoutError, DatasetSpec, read_samples
from datamodules.path_names import path_part_problem

BAD_NAMES = ["../../../outside", "a/../../", "/etc", "a\\b", "a\x00b", "..", ".", "C:evil"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_dataset_name_that_is_not_one_folder_name_is_refused_at_the_spec(tmp_path, name):
    with pytest.raises(DatasetLayoutError) as error:
        DatasetSpec(name=name, format="mvtec", root=str(tmp_path))
    message = str(error.value)
    assert repr(name) in message and "dataset name" in message and "Fix: name the set" in message


def test_plain_names_with_spaces_underscores_and_dots_are_fine():
    for name in ("visa", "metal_nut", "electrical commutators", "v1.2", "01"):
        assert path_part_problem(name) is None


def test_a_class_name_option_that_climbs_out_is_refused_by_the_reader(tree):
    tree.image("photos/a.png")
    with pytest.raises(DatasetLayoutError, match=r"class name read from .* 'a/\.\./\.\./'.*Fix: rename that class"):
        read_samples("images", tree.path("photos"), class_name="a/../../")
    tree.image("set/normal/a.png")
    tree.image("set/anomalous/b.png")
    with pytest.raises(DatasetLayoutError, match=r"class name read from .*'\.\./\.\./x'"):
        read_samples("folder", tree.path("set"), class_name="../../x")


def test_a_class_name_from_a_meta_json_that_climbs_out_is_refused(tree):
    tree.image("root/x/test/good/0.png")
    meta = {"test": {"../../evil": [{"img_path": "x/test/good/0.png", "mask_path": "", "cls_name": "../../evil",
                                      "specie_name": "good", "anomaly": 0}]}}
    tree.text("root/meta.json", json.dumps(meta))
    with pytest.raises(DatasetLayoutError, match=r"class name read from .*'\.\./\.\./evil'"):
        read_samples("meta_json", tree.path("root"))
