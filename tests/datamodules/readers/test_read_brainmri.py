"""Brain MRI: yes/ anomalous, no/ normal, free-form names with spaces and mixed extensions; image level."""

from __future__ import annotations

import pytest

from datamodules import DatasetLayoutError, read_samples


def test_yes_is_tumour_no_is_healthy_whatever_the_file_names(tree):
    tree.image("yes/Y1.jpg")
    tree.image("yes/Y10.JPG")
    tree.image("yes/Y2.png", mode="RGBA")
    tree.image("no/1 no.jpeg", mode="L")
    tree.image("no/No12.jpg")
    tree.text("no/Thumbs.db", "")

    samples = read_samples("brainmri", tree.root)

    assert [p.rsplit("/", 2)[1:] for p in samples["image_path"]] == [
        ["no", "1 no.jpeg"], ["no", "No12.jpg"], ["yes", "Y1.jpg"], ["yes", "Y10.JPG"], ["yes", "Y2.png"]]
    assert samples["label"].tolist() == [0, 0, 1, 1, 1]
    assert samples["defect_type"].tolist() == ["good", "good", "tumor", "tumor", "tumor"]
    assert set(samples["class_name"]) == {"brain_mri"}
    assert samples["mask_path"].isna().all()


def test_the_archive_copy_is_read_only_when_the_root_has_no_folders_of_its_own(tree):
    tree.image("brain_tumor_dataset/yes/Y1.jpg")
    tree.image("brain_tumor_dataset/no/N1.jpg")
    assert len(read_samples("brainmri", tree.root)) == 2

    tree.image("yes/Y1.jpg")  # the same images again at the top: counted once, not twice
    tree.image("no/N1.jpg")
    samples = read_samples("brainmri", tree.root)
    assert samples["image_path"].tolist() == [tree.path("no/N1.jpg"), tree.path("yes/Y1.jpg")]


def test_a_missing_folder_is_named(tree):
    tree.image("yes/Y1.jpg")

    with pytest.raises(DatasetLayoutError, match=r"folder '.*/no' does not exist; the brainmri layout is yes/"):
        read_samples("brainmri", tree.root)
