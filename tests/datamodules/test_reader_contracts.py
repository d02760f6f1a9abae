"""Readers never drop data silently: what they skip is an error naming what to rename or restore, or a warning
listing it. Each case below used to lose images without a word."""

from __future__ import annotations

import os
import warnings

import pytest

from datamodules import DatasetLayoutError, read_samples


def _mvtec_class(tree, name="bottle"):
    tree.image(f"{name}/test/good/000.png")
    tree.image(f"{name}/test/crack/000.png")
    tree.mask(f"{name}/ground_truth/crack/000_mask.png")


def test_a_complete_tree_reads_without_any_warning(tree):
    _mvtec_class(tree)
    tree.text("license.txt", "CC BY-NC-SA 4.0")
    tree.text("bottle/test/good/readme.txt", "notes")  # text files among images are not data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read_samples("mvtec", tree.root)) == 2


def test_a_class_folder_with_Test_instead_of_test_is_an_error(tree):
    _mvtec_class(tree)
    tree.image("cable/Test/good/000.png")
    with pytest.raises(DatasetLayoutError, match=r"'.*/cable' holds 'Test/' where the layout has 'test/'.*Fix: rename '.*/cable/Test' to '.*/cable/test'"):
        read_samples("mvtec", tree.root)


def test_a_class_with_only_train_is_named_in_a_warning(tree):
    _mvtec_class(tree)
    tree.image("cable/train/good/000.png")
    with pytest.warns(UserWarning, match=r"1 entry in '.*' skipped, not classes with a test/ folder .*: 'cable'"):
        table = read_samples("mvtec", tree.root)
    assert sorted(set(table["class_name"])) == ["bottle"]


def test_a_broken_link_to_an_image_is_an_error(tree):
    _mvtec_class(tree)
    os.symlink(tree.root / "elsewhere" / "001.png", tree.root / "bottle/test/good/001.png")
    with pytest.raises(DatasetLayoutError, match=r"'.*/good/001\.png' is a broken link: it points to '.*/elsewhere/001\.png', which does not exist"):
        read_samples("mvtec", tree.root)


def test_a_broken_link_to_a_mask_is_an_error(tree):
    tree.image("bottle/test/good/000.png")
    tree.image("bottle/test/crack/000.png")
    os.makedirs(tree.root / "bottle/ground_truth/crack")
    os.symlink(tree.root / "gone.png", tree.root / "bottle/ground_truth/crack/000_mask.png")
    with pytest.raises(DatasetLayoutError, match=r"000_mask\.png' is a broken link"):
        read_samples("mvtec", tree.root)


def test_a_broken_link_to_a_class_folder_is_an_error(tree):
    _mvtec_class(tree)
    os.symlink(tree.root / "missing_class", tree.root / "cable")
    with pytest.raises(DatasetLayoutError, match=r"'.*/cable' is a broken link"):
        read_samples("mvtec", tree.root)


def test_files_of_other_types_and_nested_folders_are_named(tree):
    _mvtec_class(tree)
    tree.image("bottle/test/good/001.webp")
    tree.image("bottle/test/good/more/002.png")
    with pytest.warns(UserWarning, match=r"2 entries in '.*/test/good' skipped, not \.png/\.jpg.* image files: '001\.webp', 'more'"):
        table = read_samples("mvtec", tree.root)
    assert len(table) == 2


def test_images_lying_directly_in_test_are_named(tree):
    _mvtec_class(tree)
    tree.image("bottle/test/003.png")
    with pytest.warns(UserWarning, match=r"'.*/bottle/test' skipped, not 'good' or defect folders: '003\.png'"):
        read_samples("mvtec", tree.root)


def test_a_capitalised_normal_folder_is_not_taken_for_a_defect(tree):
    _mvtec_class(tree)
    tree.image("bottle/test/Good/001.png")
    with pytest.raises(DatasetLayoutError, match=r"'.*/test/Good' would be read as a defect type.*rename it to '.*/test/good'"):
        read_samples("mvtec", tree.root)


def test_a_capitalised_ground_truth_folder_is_named(tree):
    tree.image("bottle/test/good/000.png")
    tree.image("bottle/test/crack/000.png")
    tree.mask("bottle/Ground_Truth/crack/000_mask.png")
    with pytest.raises(DatasetLayoutError, match=r"belong in '.*/bottle/ground_truth', but only '.*/Ground_Truth' exists"):
        read_samples("mvtec", tree.root)


def test_btad_OK_folder(tree):
    tree.image("01/test/ok/0000.bmp")
    tree.image("01/test/OK/0001.bmp")
    with pytest.raises(DatasetLayoutError, match=r"'.*/test/OK' would be read as a defect type"):
        read_samples("btad", tree.root)


def test_a_class_with_only_normal_images_is_named(tree):
    _mvtec_class(tree)
    tree.image("cable/test/good/000.png")
    with pytest.warns(UserWarning, match=r"mvtec class\(es\) \['cable'\] under '.*' have no anomalous test images, so their image AUROC"):
        read_samples("mvtec", tree.root)


def test_dagm_lower_case_label_folder_still_marks_the_defective_images(tree):
    tree.image("Class1/Test/0001.PNG")
    tree.image("Class1/Test/0002.PNG")
    tree.mask("Class1/Test/label/0002_label.PNG")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = read_samples("dagm", tree.root)
    assert list(table["label"]) == [0, 1]


def test_dagm_without_a_label_folder_is_an_error_not_all_normal(tree):
    tree.image("Class1/Test/0001.PNG")
    with pytest.raises(DatasetLayoutError, match=r"'.*/Class1/Test' has no 'Label' folder, so no test image of Class1 could be told defective"):
        read_samples("dagm", tree.root)


def test_dagm_class_spellings(tree):
    tree.image("Class1/Test/0001.PNG")
    tree.mask("Class1/Test/Label/0001_label.PNG")
    tree.image("Class2/Train/0001.PNG")
    with pytest.warns(UserWarning, match=r"skipped, not classes with a Test/ folder \(they hold only Train/\): 'Class2'"):
        read_samples("dagm", tree.root)
    tree.image("Class3/TEST/0001.PNG")
    with pytest.raises(DatasetLayoutError, match=r"'.*/Class3' holds 'TEST/' where DAGM has 'Test/'"):
        read_samples("dagm", tree.root)


def test_headct_images_not_named_by_id_are_named(tree):
    tree.text("labels.csv", "id, hemorrhage\n0,1\n1,0\n")
    tree.image("head_ct/000.png")
    tree.image("head_ct/001.png")
    tree.image("head_ct/001 copy.png")
    with pytest.warns(UserWarning, match=r"skipped, not slices named by their csv id \(000\.png\): '001 copy\.png'"):
        assert len(read_samples("headct", tree.root)) == 2


def test_isic_other_image_names_are_named_but_superpixels_are_not(tree):
    tree.image("ISBI2016_ISIC_Part1_Test_Data/ISIC_0000003.jpg")
    tree.image("ISBI2016_ISIC_Part1_Test_Data/ISIC_0000003_superpixels.png")
    tree.image("ISBI2016_ISIC_Part1_Test_Data/lesion_7.jpg")
    tree.mask("ISBI2016_ISIC_Part1_Test_GroundTruth/ISIC_0000003_Segmentation.png")
    with pytest.warns(UserWarning) as record:
        read_samples("isic", tree.root)
    messages = [str(w.message) for w in record]
    assert len(messages) == 1 and "'lesion_7.jpg'" in messages[0] and "superpixels" not in messages[0]


def test_ksdd_broken_link_is_an_error(tree):
    tree.image("kos01/Part0.jpg")
    tree.mask("kos01/Part0_label.bmp")
    os.symlink(tree.root / "gone.jpg", tree.root / "kos01/Part1.jpg")
    with pytest.raises(DatasetLayoutError, match=r"Part1\.jpg' is a broken link"):
        read_samples("ksdd", tree.root)


def test_folder_roles_must_be_different_folders(tree):
    tree.image("images/000.png")
    with pytest.raises(DatasetLayoutError, match=r"normal_dir and anomalous_dir are the same folder '.*/images'"):
        read_samples("folder", tree.root, normal_dir="images", anomalous_dir="images/")
    with pytest.raises(DatasetLayoutError, match=r"anomalous_dir and mask_dir are the same folder"):
        read_samples("folder", tree.root, normal_dir=None, anomalous_dir="images", mask_dir="./images")


def test_capitalised_yes_no_folders_say_what_to_rename(tree):
    tree.image("Yes/Y1.jpg")
    tree.image("No/1 no.jpg")
    with pytest.raises(DatasetLayoutError, match=r"folder '.*/no' does not exist.*Fix: rename 'No' to 'no'"):
        read_samples("br35h", tree.root)


def test_capitalised_image_and_mask_folders_say_what_to_rename(tree):
    tree.image("Images/1.png")
    tree.mask("masks/1.png")
    with pytest.raises(DatasetLayoutError, match=r"holds 'Images/' where the colondb layout has 'images/'"):
        read_samples("colondb", tree.root)
    os.rename(tree.root / "Images", tree.root / "images")
    os.rename(tree.root / "masks", tree.root / "Masks")
    with pytest.raises(DatasetLayoutError, match=r"holds 'Masks/' where the colondb layout has 'masks/'"):
        read_samples("colondb", tree.root)


def test_all_anomalous_formats_do_not_warn_about_missing_normal_images(tree):
    tree.image("images/1.png")
    tree.mask("masks/1.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(read_samples("colondb", tree.root)["label"]) == [1]


def test_visa_rows_of_another_split_spelling_are_named(tree):
    tree.image("pcb1/Data/Images/Normal/0000.JPG")
    tree.image("pcb1/Data/Images/Normal/0001.JPG")
    tree.image("pcb1/Data/Images/Anomaly/000.JPG")
    tree.mask("pcb1/Data/Masks/Anomaly/000.png", value=2)
    tree.text(
        "split_csv/1cls.csv",
        "object,split,label,image,mask\n"
        "pcb1,test,normal,pcb1/Data/Images/Normal/0000.JPG,\n"
        "pcb1,Test,normal,pcb1/Data/Images/Normal/0001.JPG,\n"
        "pcb1,test,anomaly,pcb1/Data/Images/Anomaly/000.JPG,pcb1/Data/Masks/Anomaly/000.png\n",
    )
    with pytest.warns(UserWarning, match=r"1cls\.csv' has 1 row\(s\) with split \['Test'\], which are not read"):
        assert len(read_samples("visa", tree.root)) == 2


@pytest.mark.parametrize("flag", ["true", 0.5, 2])
def test_meta_json_anomaly_flags_other_than_0_and_1_are_refused(tree, flag):
    import json

    tree.image("bottle/test/good/000.png")
    entry = {"img_path": "bottle/test/good/000.png", "mask_path": "", "cls_name": "bottle", "specie_name": "good", "anomaly": flag}
    tree.text("meta.json", json.dumps({"test": {"bottle": [entry]}}))
    with pytest.raises(DatasetLayoutError, match=rf"test/bottle\[0\]: anomaly is {flag!r}; expected 0 or 1"):
        read_samples("meta_json", tree.root)


def test_headct_id_listed_twice_is_refused(tree):
    tree.text("labels.csv", "id, hemorrhage\n0,1\n0,0\n")
    tree.image("head_ct/000.png")
    with pytest.raises(DatasetLayoutError, match=r"labels\.csv' line 3: id 0 is listed twice"):
        read_samples("headct", tree.root)
