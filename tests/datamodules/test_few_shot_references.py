"""Few-shot references: k normal images per class, from the training split when the layout has one, else from
the normal test images (which then leave the evaluation); reproducible; bad settings fail before any work."""

import json

import pytest
import torch

from datamodules import AnomalyDataModule, AnomalyDataset, DatasetLayoutError, DatasetSpec, make_synthetic_dataset
from datamodules.few_shot import draw
from datamodules.readers.train_split import read_train_normals


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return str(make_synthetic_dataset(tmp_path_factory.mktemp("syn"), n_normal=6, n_anomalous=3, image_size=32))


def _dataset(root, **few_shot):
    return AnomalyDataset.from_spec(DatasetSpec(name="s", format="mvtec", root=root, few_shot=few_shot or None), image_size=28)


def test_mvtec_draws_k_train_good_images_per_class_and_evaluates_every_test_image(synthetic):
    plain, few = _dataset(synthetic), _dataset(synthetic, k=4, seed=0)
    assert len(few) == len(plain) == 2 * 9
    assert sorted(few.references) == ["grid_texture", "round_object"]
    for class_name, refs in few.references.items():
        assert refs.source == "train" and len(refs.image_paths) == 4 and len(set(refs.image_paths)) == 4
        assert all(f"/{class_name}/train/good/" in path for path in refs.image_paths)
    assert few.evaluation_plan().note == "few-shot k=4 seed=0"


def test_the_draw_is_reproducible_and_the_seed_changes_it(synthetic):
    first = _dataset(synthetic, k=2, seed=3).references
    assert _dataset(synthetic, k=2, seed=3).references == first
    draws = {_dataset(synthetic, k=2, seed=seed).references["grid_texture"].image_paths for seed in range(5)}
    assert len(draws) > 1
    # the draw depends on the pool's content, not on the order the file system lists it
    pool = [f"/p/{i}.png" for i in range(10)]
    assert draw(pool, 3, 0, "c") == draw(list(reversed(pool)), 3, 0, "c") and len(set(draw(pool, 3, 0, "c"))) == 3


def test_a_set_without_training_split_takes_normal_test_images_and_leaves_them_out(tree):
    for i in range(4):
        tree.image(f"set/normal/{i}.png", value=10 * i)
    tree.image("set/anomalous/a.png")
    spec = DatasetSpec(name="f", format="folder", root=tree.path("set"), few_shot={"k": 2, "seed": 0})
    dataset = AnomalyDataset.from_spec(spec, image_size=28)
    refs = dataset.references["set"]
    assert refs.source == "test" and len(refs.image_paths) == 2
    assert len(dataset) == 3 and not set(refs.image_paths) & set(dataset.samples["image_path"])
    plan = dataset.evaluation_plan()
    assert plan.counts == ((2, 1),)
    assert plan.note == "few-shot k=2 seed=0; references from the normal test images, left out of the evaluation (set)"


def test_reference_images_are_read_and_resized_exactly_like_test_images(tree):
    for i in range(3):
        tree.image(f"set/normal/{i}.png", size=(40, 30), value=20 + 30 * i)
    tree.image("set/anomalous/a.png", size=(40, 30))
    spec = DatasetSpec(name="f", format="folder", root=tree.path("set"), few_shot={"k": 1, "seed": 0})
    dataset = AnomalyDataset.from_spec(spec, image_size=28, resize="letterbox")
    reference = dataset.reference_dataset()[0]
    plain = AnomalyDataset.from_spec(DatasetSpec(name="f", format="folder", root=tree.path("set")), image_size=28, resize="letterbox")
    same = plain[list(plain.samples["image_path"]).index(reference.image_path)]
    assert torch.equal(reference.image, same.image) and reference.fingerprint == same.fingerprint
    assert reference.label == 0 and reference.class_name == "set"


@pytest.mark.parametrize(
    "few_shot, message",
    [
        ({"k": 0}, r"few_shot k=0; expected an integer >= 1"),
        ({"k": 2.5}, r"few_shot k=2.5"),
        ({"k": 2, "seed": -1}, r"seed=-1"),
        ({"n": 2}, r"expected a mapping \{k: <images per class>, seed: <int>\}"),
    ],
)
def test_bad_few_shot_settings_are_refused_at_the_spec(tmp_path, few_shot, message):
    with pytest.raises(DatasetLayoutError, match=message):
        DatasetSpec(name="s", format="mvtec", root=str(tmp_path), few_shot=few_shot)


def test_k_larger_than_the_normals_is_one_line_naming_class_counts_and_fix(synthetic, tree):
    with pytest.raises(DatasetLayoutError, match=r"k=7 for class 'grid_texture', which has 6 normal training images\. Fix: use k <= 6"):
        _dataset(synthetic, k=7)
    for i in range(2):
        tree.image(f"set/normal/{i}.png")
    tree.image("set/anomalous/a.png")
    with pytest.raises(DatasetLayoutError, match=r"no training split here and 2 normal test images \(one must stay .*k <= 1"):
        AnomalyDataset.from_spec(DatasetSpec(name="f", format="folder", root=tree.path("set"), few_shot={"k": 2}))


def test_a_set_without_any_normal_image_is_refused(tree):
    tree.image("set/anomalous/a.png")
    spec = DatasetSpec(name="f", format="folder", root=tree.path("set"), few_shot={"k": 1},
                       options={"normal_dir": None})
    with pytest.raises(DatasetLayoutError, match=r"few-shot needs normal images of class 'set'.*Fix: remove few_shot"):
        AnomalyDataset.from_spec(spec)


def test_the_data_level_default_applies_to_test_sets_without_their_own(synthetic, tree):
    for i in range(3):
        tree.image(f"set/normal/{i}.png")
    tree.image("set/anomalous/a.png")
    data = AnomalyDataModule(
        test_sets=[{"name": "m", "format": "mvtec", "root": synthetic},
                   {"name": "f", "format": "folder", "root": tree.path("set"), "few_shot": {"k": 1, "seed": 5}}],
        few_shot={"k": 2, "seed": 0}, image_size=28, num_workers=0,
    )
    data.setup("test")
    mvtec, folder = data.test_datasets
    assert mvtec.few_shot.k == 2 and {len(r.image_paths) for r in mvtec.references.values()} == {2}
    assert folder.few_shot.k == 1 and folder.few_shot.seed == 5


def test_training_splits_of_btad_visa_dagm_and_meta_json(tree):
    tree.image("btad/01/test/ok/0.bmp")
    tree.image("btad/01/train/ok/5.bmp")
    assert list(read_train_normals("btad", tree.path("btad"))["image_path"]) == [tree.path("btad/01/train/ok/5.bmp")]

    tree.image("visa/pcb1/Data/Images/Normal/0001.JPG")
    tree.text("visa/split_csv/1cls.csv", "object,split,label,image,mask\npcb1,train,normal,pcb1/Data/Images/Normal/0001.JPG,\n"
              "pcb1,train,anomaly,pcb1/Data/Images/Anomaly/0.JPG,x.png\n")
    visa = read_train_normals("visa", tree.path("visa"))
    assert list(visa["image_path"]) == [tree.path("visa/pcb1/Data/Images/Normal/0001.JPG")] and list(visa["class_name"]) == ["pcb1"]

    tree.image("dagm/Class1/Train/0001.PNG")
    tree.image("dagm/Class1/Train/0002.PNG")
    tree.mask("dagm/Class1/Train/Label/0002_label.PNG")
    assert list(read_train_normals("dagm", tree.path("dagm"))["image_path"]) == [tree.path("dagm/Class1/Train/0001.PNG")]

    tree.image("meta/bottle/train/good/0.png")
    meta = {"train": {"bottle": [{"img_path": "bottle/train/good/0.png", "mask_path": "", "cls_name": "bottle",
                                  "specie_name": "good", "anomaly": 0}]}, "test": {}}
    tree.text("meta/meta.json", json.dumps(meta))
    assert list(read_train_normals("meta_json", tree.path("meta"))["image_path"]) == [tree.path("meta/bottle/train/good/0.png")]

    assert read_train_normals("headct", tree.path("btad")) is None  # no training split in that layout


def test_few_shot_on_a_train_or_validation_set_is_refused(synthetic):
    spec = {"name": "m", "format": "mvtec", "root": synthetic, "few_shot": {"k": 1}}
    with pytest.raises(ValueError, match=r"val_sets: few_shot is set on \['m'\].*test_sets and predict_sets only"):
        AnomalyDataModule(val_sets=[spec])
