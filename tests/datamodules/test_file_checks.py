"""One bad image or mask is found when the data is set up: an error listing it for test sets, a warning naming
it for predict sets (which then score the others); `data summary` counts unlabelled images."""

import numpy as np
import pytest
from PIL import Image

from datamodules import AnomalyDataModule, DatasetLayoutError, summarize


def _mvtec(tree, root="set"):
    tree.image(f"{root}/c/test/good/0.png")
    tree.image(f"{root}/c/test/good/1.png")
    tree.image(f"{root}/c/test/hole/0.png")
    tree.mask(f"{root}/c/ground_truth/hole/0_mask.png")
    return tree.path(root)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _noisy_png(tree, relative):
    path = tree.root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
    return path


def _test_data(root, **kwargs):
    return AnomalyDataModule(test_sets=[{"name": "s", "format": "mvtec", "root": root}], image_size=28, num_workers=0, **kwargs)


@pytest.mark.parametrize("breakage", ["zero_bytes", "not_an_image", "float_tiff", "mask_size"])
def test_a_bad_test_file_is_one_error_naming_it_before_any_batch(tree, breakage):
    root = _mvtec(tree)
    bad = tree.root / "set/c/test/good/1.png"
    if breakage == "zero_bytes":
        bad.write_bytes(b"")
        expected = "is empty (0 bytes)"
    elif breakage == "not_an_image":
        bad.write_text("not a picture")
        expected = "is not an image PIL can read"
    elif breakage == "float_tiff":
        bad.unlink()
        bad = tree.root / "set/c/test/good/1.tif"
        Image.fromarray(np.zeros((16, 20), dtype=np.float32)).save(bad)
        expected = "holds 32-bit floats"
    else:
        bad = tree.mask("set/c/ground_truth/hole/0_mask.png", size=(10, 8))
        expected = "is 10x8 but its image"
    data = _test_data(root)
    with pytest.raises(DatasetLayoutError) as error:
        data.setup("test")
    message = str(error.value)
    assert f"'{bad}'" in message and expected in message and "1 of 3 sample(s)" in message and "Fix:" in message


def test_a_truncated_test_image_is_found_up_front_when_check_files_is_asked(tree):
    root = _mvtec(tree)
    truncated = _noisy_png(tree, "set/c/test/good/1.png")
    _truncate(truncated)
    _test_data(root).setup("test")  # headers only: the header is intact
    with pytest.raises(DatasetLayoutError, match=rf"image '{truncated}' cannot be decoded"):
        _test_data(root, check_files=True).setup("test")


def test_predict_skips_unusable_files_with_a_warning_naming_them_and_scores_the_rest(tree):
    for name in ("a", "b", "c"):
        tree.image(f"photos/{name}.png")
    (tree.root / "photos/empty.png").write_bytes(b"")
    tree.text("photos/text.png", "hello")
    _truncate(_noisy_png(tree, "photos/cut.png"))
    tree.text("photos/notes.docx", "a non-image file")
    data = AnomalyDataModule(predict_sets=[{"name": "p", "format": "images", "root": tree.path("photos")}],
                             image_size=28, num_workers=0)
    with pytest.warns(UserWarning) as caught:
        data.setup("predict")
    messages = " ".join(str(w.message) for w in caught)
    for name in ("empty.png", "text.png", "cut.png", "notes.docx"):
        assert name in messages
    assert "3 of 6 sample(s) cannot be used and are skipped" in messages
    dataset = data.predict_datasets[0]
    assert sorted(p.rsplit("/", 1)[1] for p in dataset.samples["image_path"]) == ["a.png", "b.png", "c.png"]
    assert len(dataset) == 3 and [dataset[i].image.shape for i in range(3)] == [(3, 28, 28)] * 3


def test_a_predict_set_with_no_usable_image_is_an_error(tree):
    (tree.root / "photos").mkdir()
    (tree.root / "photos/empty.png").write_bytes(b"")
    data = AnomalyDataModule(predict_sets=[{"name": "p", "format": "images", "root": tree.path("photos")}], num_workers=0)
    with pytest.raises(DatasetLayoutError, match="1 of 1 sample"):
        data.setup("predict")


def test_data_summary_counts_the_images_of_an_unlabelled_folder(tree, capsys):
    from tipsomaly.commands.data import main

    for index in range(7):
        tree.image(f"photos/{index}.png")
    assert summarize("images", tree.path("photos")).loc["total", "unlabelled"] == 7
    assert main(["summary", "--format", "images", "--root", tree.path("photos")]) == 0
    total = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("total"))
    assert total.split() == ["total", "7", "0", "0", "0"]
