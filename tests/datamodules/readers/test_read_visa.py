"""VisA: split_csv/1cls.csv (object, split, label, image, mask), rows with split == test; index masks."""

from __future__ import annotations

import re

import pytest

from datamodules import DatasetLayoutError, read_samples

HEADER = "object,split,label,image,mask\n"


def write_visa(tree, rows: str) -> None:
    tree.image("pcb1/Data/Images/Normal/0000.JPG")  # upper-case extension, as shipped
    tree.image("pcb1/Data/Images/Normal/0001.JPG")
    tree.image("pcb1/Data/Images/Anomaly/000.JPG")
    tree.mask("pcb1/Data/Masks/Anomaly/000.png", value=2)  # defect index 2, not 255
    tree.image("pipe_fryum/Data/Images/Anomaly/010.JPG")
    tree.mask("pipe_fryum/Data/Masks/Anomaly/010.png", value=1)
    tree.text("split_csv/1cls.csv", HEADER + rows)


ROWS = (
    "pcb1,train,normal,pcb1/Data/Images/Normal/0001.JPG,\n"
    "pcb1,test,normal,pcb1/Data/Images/Normal/0000.JPG,\n"
    "pcb1,test,anomaly,pcb1/Data/Images/Anomaly/000.JPG,pcb1/Data/Masks/Anomaly/000.png\n"
    "pipe_fryum,test,anomaly,pipe_fryum/Data/Images/Anomaly/010.JPG,pipe_fryum/Data/Masks/Anomaly/010.png\n"
)


def test_reads_the_test_rows_of_1cls_csv(tree):
    write_visa(tree, ROWS)

    samples = read_samples("visa", tree.root)

    assert samples.to_dict("records") == [
        dict(image_path=tree.path("pcb1/Data/Images/Normal/0000.JPG"), mask_path=None, class_name="pcb1",
             defect_type="good", label=0),
        dict(image_path=tree.path("pcb1/Data/Images/Anomaly/000.JPG"),
             mask_path=tree.path("pcb1/Data/Masks/Anomaly/000.png"), class_name="pcb1", defect_type="anomaly",
             label=1),
        dict(image_path=tree.path("pipe_fryum/Data/Images/Anomaly/010.JPG"),
             mask_path=tree.path("pipe_fryum/Data/Masks/Anomaly/010.png"), class_name="pipe_fryum",
             defect_type="anomaly", label=1),
    ]


def test_repeated_csv_rows_are_removed(tree):
    write_visa(tree, ROWS + "pcb1,test,normal,pcb1/Data/Images/Normal/0000.JPG,\n")

    with pytest.warns(UserWarning, match=r"1 duplicate row\(s\) of the same image .*'0000.JPG'"):
        samples = read_samples("visa", tree.root)

    assert len(samples) == 3


def test_missing_csv_names_the_expected_file(tree):
    tree.image("pcb1/Data/Images/Normal/0000.JPG")

    expected = f"split file '{tree.path('split_csv/1cls.csv')}' does not exist; VisA_20220922.tar ships it"
    with pytest.raises(DatasetLayoutError, match=re.escape(expected)):
        read_samples("visa", tree.root)


def test_csv_errors_name_the_line_and_the_files(tree):
    write_visa(tree, ROWS + "pcb1,test,broken,pcb1/Data/Images/Anomaly/000.JPG,\n")
    with pytest.raises(DatasetLayoutError, match=r"1cls.csv' line 6: label 'broken' .* expected 'normal' or 'anomaly'"):
        read_samples("visa", tree.root)

    write_visa(tree, ROWS + "pcb1,test,normal,pcb1/Data/Images/Normal/9999.JPG,\n")
    with pytest.raises(DatasetLayoutError, match=r"1 image\(s\) listed in .* do not exist: '9999.JPG'"):
        read_samples("visa", tree.root)

    write_visa(tree, "pcb1,test,anomaly,pcb1/Data/Images/Anomaly/000.JPG,pipe_fryum/Data/Masks/Anomaly/010.png\n")
    with pytest.raises(DatasetLayoutError, match=r"pairs images with masks of another name: "
                                                 r"'pcb1/Data/Images/Anomaly/000.JPG' -> '.*/010.png'"):
        read_samples("visa", tree.root)


def test_an_anomaly_row_without_mask_file_is_an_error_unless_allowed(tree):
    write_visa(tree, "pcb1,test,anomaly,pcb1/Data/Images/Anomaly/000.JPG,\n")

    with pytest.raises(DatasetLayoutError, match=r"1 anomalous image\(s\) in .* have no mask file: '000.JPG'"):
        read_samples("visa", tree.root)
    samples = read_samples("visa", tree.root, allow_missing_masks=True)
    assert (samples["label"].tolist(), samples["mask_path"].tolist()) == ([1], [None])
