"""The generic folder reader for users' own data: normal dir, anomalous dir, optional mask dir."""

from __future__ import annotations

import pytest

from datamodules import DatasetLayoutError, read_samples


def test_normal_anomalous_and_mask_folders(tree):
    tree.image("widgets/ok/a.png")
    tree.image("widgets/bad/b.jpg")
    tree.image("widgets/bad/c.jpg")
    tree.mask("widgets/gt/c_mask.png")
    tree.mask("widgets/gt/b.png")

    samples = read_samples("folder", tree.root / "widgets", normal_dir="ok", anomalous_dir="bad", mask_dir="gt")

    assert samples.to_dict("records") == [
        dict(image_path=tree.path("widgets/ok/a.png"), mask_path=None, class_name="widgets", defect_type="good",
             label=0),
        dict(image_path=tree.path("widgets/bad/b.jpg"), mask_path=tree.path("widgets/gt/b.png"),
             class_name="widgets", defect_type="bad", label=1),
        dict(image_path=tree.path("widgets/bad/c.jpg"), mask_path=tree.path("widgets/gt/c_mask.png"),
             class_name="widgets", defect_type="bad", label=1),
    ]


def test_without_mask_folder_the_set_is_image_level(tree):
    tree.image("normal/a.png")
    tree.image("anomalous/b.png")

    samples = read_samples("folder", tree.root, class_name="gear")

    assert samples[["class_name", "label"]].values.tolist() == [["gear", 0], ["gear", 1]]
    assert samples["mask_path"].isna().all()


def test_a_missing_folder_is_named_with_the_fix(tree):
    tree.image("normal/a.png")

    with pytest.raises(DatasetLayoutError, match=r"folder '.*/anomalous' does not exist; expected the anomalous "
                                                 r"images. Fix: pass normal_dir / anomalous_dir / mask_dir"):
        read_samples("folder", tree.root)
    assert len(read_samples("folder", tree.root, anomalous_dir=None)) == 1
