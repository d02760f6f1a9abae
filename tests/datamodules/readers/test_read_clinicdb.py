"""CVC-ClinicDB: images/ + masks/ (PNG copy) or Original/ + Ground Truth/ (TIFF archive); all anomalous."""

from __future__ import annotations

from datamodules import read_samples


def test_png_copy(tree):
    tree.image("images/1.png")
    tree.mask("masks/1.png")

    samples = read_samples("clinicdb", tree.root)

    assert samples.to_dict("records") == [dict(image_path=tree.path("images/1.png"), mask_path=tree.path("masks/1.png"),
                                               class_name="ClinicDB", defect_type="polyp", label=1)]


def test_authors_tiff_archive(tree):
    tree.image("Original/1.tif")
    tree.image("Original/2.tif")
    tree.mask("Ground Truth/1.tif")
    tree.mask("Ground Truth/2.tif")

    samples = read_samples("clinicdb", tree.root)

    assert samples["mask_path"].tolist() == [tree.path("Ground Truth/1.tif"), tree.path("Ground Truth/2.tif")]
