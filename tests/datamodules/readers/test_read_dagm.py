"""DAGM 2007: ClassN/Test/*.PNG, label images ClassN/Test/Label/<stem>_label.PNG, cross-checked with Labels.txt."""

from __future__ import annotations

import pytest

from datamodules import DatasetLayoutError, read_samples

LABELS_TXT = "1\n1\t0\t0001.PNG\t0\t0\n2\t1\t0002.PNG\t0\t0002_label.PNG\n"


def write_class(tree, name: str = "Class1", labels_txt: str | None = LABELS_TXT) -> None:
    tree.image(f"{name}/Train/0001.PNG", mode="L")
    tree.image(f"{name}/Test/0001.PNG", mode="L")
    tree.image(f"{name}/Test/0002.PNG", mode="L")
    tree.mask(f"{name}/Test/Label/0002_label.PNG")
    if labels_txt is not None:
        tree.text(f"{name}/Test/Label/Labels.txt", labels_txt)


def test_an_image_is_anomalous_when_its_label_image_exists(tree):
    write_class(tree, "Class1")
    write_class(tree, "Class10", labels_txt=None)  # Labels.txt is optional

    samples = read_samples("dagm", tree.root)

    assert samples.to_dict("records") == [
        dict(image_path=tree.path("Class1/Test/0001.PNG"), mask_path=None, class_name="Class1",
             defect_type="good", label=0),
        dict(image_path=tree.path("Class1/Test/0002.PNG"), mask_path=tree.path("Class1/Test/Label/0002_label.PNG"),
             class_name="Class1", defect_type="defect", label=1),
        dict(image_path=tree.path("Class10/Test/0001.PNG"), mask_path=None, class_name="Class10",
             defect_type="good", label=0),
        dict(image_path=tree.path("Class10/Test/0002.PNG"),
             mask_path=tree.path("Class10/Test/Label/0002_label.PNG"), class_name="Class10", defect_type="defect",
             label=1),
    ]


def test_a_doubly_nested_class_folder_is_accepted(tree):
    write_class(tree, "Class3/Class3")

    samples = read_samples("dagm", tree.root)

    assert samples["class_name"].tolist() == ["Class3", "Class3"]
    assert samples["label"].tolist() == [0, 1]


def test_labels_txt_flag_without_label_image_is_a_missing_mask(tree):
    write_class(tree, labels_txt=LABELS_TXT + "3\t1\t0003.PNG\t0\t0003_label.PNG\n")
    tree.image("Class1/Test/0003.PNG", mode="L")

    with pytest.raises(DatasetLayoutError, match=r"flags '0003.PNG' as defective \(1\) but .* has no label image"):
        read_samples("dagm", tree.root)
    samples = read_samples("dagm", tree.root, allow_missing_masks=True)
    assert (samples["label"].tolist(), samples["mask_path"].tolist()[2]) == ([0, 1, 1], None)


def test_labels_txt_disagreeing_with_the_label_images_is_an_error(tree):
    write_class(tree, labels_txt="1\n1\t0\t0001.PNG\t0\t0\n2\t0\t0002.PNG\t0\t0\n")

    with pytest.raises(DatasetLayoutError, match=r"flags '0002.PNG' as defect-free \(0\) but .* has a label image"):
        read_samples("dagm", tree.root)


def test_labels_txt_listing_other_images_is_an_error(tree):
    write_class(tree, labels_txt=LABELS_TXT + "3\t0\t0003.PNG\t0\t0\n")

    with pytest.raises(DatasetLayoutError, match=r"disagree: not listed none; listed but missing '0003.PNG'"):
        read_samples("dagm", tree.root)
