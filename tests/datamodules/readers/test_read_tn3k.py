"""TN3K: test-image/ + test-mask/ (JPEG masks); trainval is never read; all anomalous."""

from __future__ import annotations

from datamodules import read_samples


def test_test_split_only_paired_by_name(tree):
    tree.image("tn3k/trainval-image/0000.jpg")
    tree.mask("tn3k/trainval-mask/0000.jpg")
    tree.image("tn3k/test-image/0000.jpg", mode="L")
    tree.image("tn3k/test-image/0001.jpg", mode="L")
    tree.mask("tn3k/test-mask/0001.jpg")
    tree.mask("tn3k/test-mask/0000.jpg")

    samples = read_samples("tn3k", tree.root)  # the folder above tn3k/, as in the "Thyroid Dataset" archive

    assert samples.to_dict("records") == [
        dict(image_path=tree.path("tn3k/test-image/0000.jpg"), mask_path=tree.path("tn3k/test-mask/0000.jpg"),
             class_name="tn3k", defect_type="nodule", label=1),
        dict(image_path=tree.path("tn3k/test-image/0001.jpg"), mask_path=tree.path("tn3k/test-mask/0001.jpg"),
             class_name="tn3k", defect_type="nodule", label=1),
    ]
    assert len(read_samples("tn3k", tree.root / "tn3k")) == 2
