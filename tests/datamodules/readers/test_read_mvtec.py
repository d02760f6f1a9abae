"""MVTec AD layout: <class>/test/<good|defect>/, masks <class>/ground_truth/<defect>/<stem>_mask.png."""

from __future__ import annotations

import re

import pytest

from datamodules import DatasetLayoutError, read_samples


def write_mvtec(tree) -> None:
    tree.text("license.txt", "CC BY-NC-SA 4.0")  # top-level files are not classes
    tree.image("bottle/train/good/000.png")  # train split never read
    tree.image("bottle/test/good/000.png")
    tree.image("bottle/test/good/001.png", mode="L")  # grayscale, as in MVTec's grid/screw/zipper
    tree.image("bottle/test/broken_large/000.png")
    tree.image("bottle/test/broken_large/001.png")
    tree.mask("bottle/ground_truth/broken_large/000_mask.png")
    tree.mask("bottle/ground_truth/broken_large/001_mask.png")
    tree.image("metal_nut/test/good/000.PNG")  # extension case varies in MVTec-style sets
    tree.image("metal_nut/test/scratch/000.bmp")
    tree.mask("metal_nut/ground_truth/scratch/000.png")  # mask named like its image, no _mask suffix


def test_reads_one_row_per_test_image_with_masks_paired_by_name(tree):
    write_mvtec(tree)
    samples = read_samples("mvtec", tree.root)

    assert list(samples.columns) == ["image_path", "mask_path", "class_name", "defect_type", "label"]
    assert samples.to_dict("records") == [
        dict(image_path=tree.path("bottle/test/broken_large/000.png"),
             mask_path=tree.path("bottle/ground_truth/broken_large/000_mask.png"),
             class_name="bottle", defect_type="broken_large", label=1),
        dict(image_path=tree.path("bottle/test/broken_large/001.png"),
             mask_path=tree.path("bottle/ground_truth/broken_large/001_mask.png"),
             class_name="bottle", defect_type="broken_large", label=1),
        dict(image_path=tree.path("bottle/test/good/000.png"), mask_path=None, class_name="bottle",
             defect_type="good", label=0),
        dict(image_path=tree.path("bottle/test/good/001.png"), mask_path=None, class_name="bottle",
             defect_type="good", label=0),
        dict(image_path=tree.path("metal_nut/test/good/000.PNG"), mask_path=None, class_name="metal_nut",
             defect_type="good", label=0),
        dict(image_path=tree.path("metal_nut/test/scratch/000.bmp"),
             mask_path=tree.path("metal_nut/ground_truth/scratch/000.png"),
             class_name="metal_nut", defect_type="scratch", label=1),
    ]


def test_masks_pair_by_name_not_by_sorted_position(tree):
    tree.image("bottle/test/crack/000.png")
    tree.image("bottle/test/crack/002.png")
    tree.mask("bottle/ground_truth/crack/000_mask.png")
    tree.mask("bottle/ground_truth/crack/001_mask.png")  # belongs to no image: by position it would pair with 002
    tree.mask("bottle/ground_truth/crack/002_mask.png")

    with pytest.warns(UserWarning, match=re.escape("1 mask(s) in") + r".*'001_mask.png'"):
        samples = read_samples("mvtec", tree.root)

    assert [path.rsplit("/", 1)[1] for path in samples["mask_path"]] == ["000_mask.png", "002_mask.png"]


def test_an_anomalous_image_without_mask_is_an_error_naming_it(tree):
    tree.image("bottle/test/crack/000.png")
    tree.image("bottle/test/crack/001.png")
    tree.mask("bottle/ground_truth/crack/000_mask.png")

    expected = (f"1 anomalous image(s) have no mask in '{tree.path('bottle/ground_truth/crack')}': '001.png'. "
                "Expected the mask of '000.png' to be named '000_mask.png' or '000.png'. Fix: restore the missing "
                "masks, or pass allow_missing_masks=True")
    with pytest.raises(DatasetLayoutError, match=re.escape(expected)):
        read_samples("mvtec", tree.root)


def test_allowing_missing_masks_keeps_the_image_without_one(tree):
    tree.image("bottle/test/crack/000.png")
    tree.image("bottle/test/crack/001.png")
    tree.mask("bottle/ground_truth/crack/000_mask.png")

    samples = read_samples("mvtec", tree.root, allow_missing_masks=True)

    assert samples["label"].tolist() == [1, 1]
    assert samples["mask_path"].tolist() == [tree.path("bottle/ground_truth/crack/000_mask.png"), None]


def test_two_masks_for_one_image_are_ambiguous(tree):
    tree.image("bottle/test/crack/000.png")
    tree.mask("bottle/ground_truth/crack/000_mask.png")
    tree.mask("bottle/ground_truth/crack/000.png")

    with pytest.raises(DatasetLayoutError, match=r"two mask files .* pairing name '000': '000.png' and '000_mask.png'"):
        read_samples("mvtec", tree.root)


def test_hidden_files_and_non_images_are_skipped(tree):
    tree.image("bottle/test/good/000.png")
    tree.image("bottle/test/good/._000.png")  # macOS resource fork
    tree.text("bottle/test/good/notes.txt", "not an image")

    assert read_samples("mvtec", tree.root)["image_path"].tolist() == [tree.path("bottle/test/good/000.png")]


def test_a_class_folder_as_root_is_read_as_that_class(tree):
    write_mvtec(tree)

    samples = read_samples("mvtec", tree.root / "bottle")

    assert samples["class_name"].unique().tolist() == ["bottle"]
    assert len(samples) == 4


def test_classes_option_keeps_a_subset_and_rejects_unknown_names(tree):
    write_mvtec(tree)

    assert read_samples("mvtec", tree.root, classes=["metal_nut"])["class_name"].tolist() == ["metal_nut"] * 2
    with pytest.raises(DatasetLayoutError, match=r"class\(es\) \['cable'\] not found .* \['bottle', 'metal_nut'\]"):
        read_samples("mvtec", tree.root, classes=["cable"])


def test_missing_root_and_empty_layout_errors_say_what_was_expected(tree):
    with pytest.raises(DatasetLayoutError, match=r"mvtec dataset root '.*/nowhere' does not exist\. Expected .*"
                                                 r"<class>/test/good/\*\.png"):
        read_samples("mvtec", tree.root / "nowhere")
    tree.image("bottle/train/good/000.png")
    with pytest.raises(DatasetLayoutError, match=r"no class folder holding a 'test' folder under .* Fix: pass the "
                                                 r"folder that holds the class folders"):
        read_samples("mvtec", tree.root)


def test_unknown_format_and_options_are_rejected(tree):
    with pytest.raises(DatasetLayoutError, match=r"unknown dataset format 'mvtech'; expected one of mvtec, visa"):
        read_samples("mvtech", tree.root)
    with pytest.raises(DatasetLayoutError, match=r"takes no option\(s\) \['mask_dir'\]; its options are "
                                                 r"\['allow_missing_masks'\]"):
        read_samples("mvtec", tree.root, mask_dir="masks")
