"""meta.json of AdaCLIP / AnomalyCLIP: test -> class -> [{img_path, mask_path, cls_name, specie_name, anomaly}]."""

from __future__ import annotations

import json

import pytest

from datamodules import DatasetLayoutError, read_samples


def entry(img_path: str, mask_path: str = "", anomaly: int = 0, cls_name: str = "bottle", specie: str = "good") -> dict:
    return dict(img_path=img_path, mask_path=mask_path, cls_name=cls_name, specie_name=specie, anomaly=anomaly)


def write_meta(tree, test: dict, key: str = "test") -> None:
    tree.text("meta.json", json.dumps({"train": {}, key: test}))


def write_images(tree) -> None:
    tree.image("bottle/test/good/000.png")
    tree.image("bottle/test/broken_large/000.png")
    tree.mask("bottle/ground_truth/broken_large/000_mask.png")


def test_entries_become_rows_with_paths_under_the_root(tree):
    write_images(tree)
    write_meta(tree, {"bottle": [
        entry("bottle/test/good/000.png"),
        entry("bottle/test/broken_large/000.png", "bottle/ground_truth/broken_large/000_mask.png", 1,
              specie="broken_large"),
    ]}, key="Test")  # some generated files capitalise the split

    samples = read_samples("meta_json", tree.root)

    assert samples.to_dict("records") == [
        dict(image_path=tree.path("bottle/test/good/000.png"), mask_path=None, class_name="bottle",
             defect_type="good", label=0),
        dict(image_path=tree.path("bottle/test/broken_large/000.png"),
             mask_path=tree.path("bottle/ground_truth/broken_large/000_mask.png"), class_name="bottle",
             defect_type="broken_large", label=1),
    ]


def test_entries_repeating_an_image_are_removed(tree):
    write_images(tree)
    write_meta(tree, {"bottle": [entry("bottle/test/good/000.png")] * 3})

    with pytest.warns(UserWarning, match=r"2 duplicate row\(s\)"):
        samples = read_samples("meta_json", tree.root)

    assert samples["image_path"].tolist() == [tree.path("bottle/test/good/000.png")]


def test_an_anomalous_entry_with_a_missing_mask_is_an_error_not_a_zero_mask(tree):
    write_images(tree)
    write_meta(tree, {"bottle": [entry("bottle/test/broken_large/000.png", "bottle/ground_truth/x/000_mask.png", 1)]})

    with pytest.raises(DatasetLayoutError, match=r"1 anomalous entr\(y/ies\) in .* have an empty or missing mask_path: "
                                                 r"'000.png'"):
        read_samples("meta_json", tree.root)
    assert read_samples("meta_json", tree.root, allow_missing_masks=True)["mask_path"].tolist() == [None]


def test_masks_named_after_another_image_are_flagged_as_mispaired(tree):
    write_images(tree)
    tree.image("bottle/test/broken_large/001.png")
    tree.mask("bottle/ground_truth/broken_large/001_mask.png")
    write_meta(tree, {"bottle": [
        entry("bottle/test/broken_large/000.png", "bottle/ground_truth/broken_large/001_mask.png", 1),
    ]})

    with pytest.raises(DatasetLayoutError, match=r"pairs images with masks of another name: "
                                                 r"'bottle/test/broken_large/000.png' -> '.*/001_mask.png'"):
        read_samples("meta_json", tree.root)
    assert len(read_samples("meta_json", tree.root, check_mask_names=False)) == 1


def test_malformed_files_are_errors(tree):
    with pytest.raises(DatasetLayoutError, match=r"meta.json' does not exist"):
        read_samples("meta_json", tree.root)
    write_meta(tree, {"bottle": [{"img_path": "bottle/test/good/000.png"}]})
    with pytest.raises(DatasetLayoutError, match=r"test/bottle\[0\] lacks \['mask_path', 'cls_name', 'specie_name', "
                                                 r"'anomaly'\]"):
        read_samples("meta_json", tree.root)
    tree.text("meta.json", json.dumps({"train": {}}))
    with pytest.raises(DatasetLayoutError, match=r"has no 'test' map of class -> entries \(found \['train'\]\)"):
        read_samples("meta_json", tree.root)
