"""`tipsomaly predict --ckpt_path ... --thresholds FILE` checks the thresholds against what will score.

Thresholds are made through the real path (a fit, then `tipsomaly calibrate`), never by hand: the prompts that
score under `--ckpt_path` are the checkpoint's (not `--model.prompt_checkpoint`, which a Lightning checkpoint
stores as None), with the data's size, resize and each predict set's prompt family.
"""

import shutil

import pytest
import yaml

from datamodules import make_synthetic_dataset
from lightning_modules.deploy.thresholds import load_thresholds
from tests.conftest import tiny_files
from tests.deploy.test_calibration_commands import _backbone_args
from tipsomaly.cli import main
from tipsomaly.commands.calibrate import calibrate_main

SIZE = 28


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A one-epoch fit (n_prompt 4), its thresholds from `calibrate` on its own prompt file, fixed-prompt
    thresholds, and a folder of one product's images to predict."""
    root = tmp_path_factory.mktemp("predict_thresholds")
    make_synthetic_dataset(root / "source", classes=("round_object",), n_normal=2, n_anomalous=2, image_size=32, seed=1)
    config = {
        "model": {"backbone": tiny_files("mlp"), "lr": 0.01, "n_prompt": 4},
        "data": {"train_sets": [{"name": "source", "format": "mvtec", "root": str(root / "source")}],
                 "image_size": SIZE, "batch_size": 4, "num_workers": 0},
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "logger": False, "enable_progress_bar": False, "enable_model_summary": False},
    }
    (root / "tiny.yaml").write_text(yaml.safe_dump(config))
    assert main(["fit", "--config", str(root / "tiny.yaml"), "--results_dir", str(root / "fit")]) == 0
    normal = root / "source" / "round_object" / "train" / "good"
    learned = root / "fit" / "prompts" / "learnable_prompts_epoch1.pt"
    assert calibrate_main(["--class_name", "round_object", "--normal_dir", str(normal), "--prompt_file", str(learned),
                           "--output", str(root / "learned.json"), *_backbone_args()]) == 0
    assert calibrate_main(["--class_name", "round_object", "--normal_dir", str(normal), "--image_size", str(SIZE),
                           "--output", str(root / "fixed.json"), *_backbone_args()]) == 0
    images = root / "line" / "round_object"
    images.mkdir(parents=True)
    for path in sorted((root / "source" / "round_object").rglob("*.png"))[:3]:
        if "ground_truth" not in path.parts:
            shutil.copy(path, images / f"{path.parent.name}_{path.name}")
    return root


def _predict(run, name, thresholds, *extra, predict_set=None):
    predict_set = predict_set or f"[{{name: line, format: images, root: {run / 'line'}}}]"
    return main(["predict", "--config", str(run / "tiny.yaml"), "--ckpt_path", str(run / "fit" / "checkpoints" / "last.ckpt"),
                 "--data.predict_sets", predict_set, "--results_dir", str(run / name), "--thresholds", str(thresholds), *map(str, extra)])


def test_thresholds_calibrated_on_the_fits_own_prompts_are_accepted(run):
    assert load_thresholds(run / "learned.json").provenance["prompt_hash"] is not None
    assert _predict(run, "accepted", run / "learned.json") == 0
    assert (run / "accepted" / "predictions.csv").is_file()


def test_fixed_prompt_thresholds_are_refused_for_a_learned_prompt_checkpoint(run, capsys):
    assert _predict(run, "fixed", run / "fixed.json") == 2
    assert "prompt_hash: 'fixed prompts only' there, 'learned prompts" in capsys.readouterr().err
    assert not (run / "fixed" / "predictions.csv").exists()


def test_learned_prompt_thresholds_are_refused_for_a_fixed_prompt_model(run, capsys):
    code = main(["predict", "--config", str(run / "tiny.yaml"), "--model.prompt_method", "none",
                 "--data.predict_sets", f"[{{name: line, format: images, root: {run / 'line'}}}]",
                 "--results_dir", str(run / "none"), "--thresholds", str(run / "learned.json")])
    assert code == 2 and "there, 'fixed prompts only' here" in capsys.readouterr().err


def test_a_resize_mismatch_is_refused(run, capsys):
    assert _predict(run, "letterbox", run / "learned.json", "--data.resize", "letterbox") == 2
    assert "resize: 'reference' there, 'letterbox' here" in capsys.readouterr().err


def test_a_predict_set_with_its_own_prompt_family_is_refused(run, capsys):
    medical = f"[{{name: line, format: images, root: {run / 'line'}, fixed_prompts: medical}}]"
    assert _predict(run, "medical", run / "learned.json", predict_set=medical) == 2
    assert "fixed_prompts: 'industrial' there, 'medical' here" in capsys.readouterr().err


def test_the_checkpoints_prompts_are_checked_when_a_prompt_file_is_also_given(run, tmp_path, capsys):
    from lightning_modules.tipsomaly import PromptCheckpoint, load_prompt_checkpoint, save_prompt_checkpoint

    fitted = load_prompt_checkpoint(run / "fit" / "prompts" / "learnable_prompts_epoch1.pt")
    other = tmp_path / "other.pt"
    save_prompt_checkpoint(other, PromptCheckpoint(fitted.normal + 0.5, fitted.abnormal, fitted.settings))
    # the checkpoint's prompts score (Lightning loads them over the prompt file's): its thresholds fit
    assert _predict(run, "both", run / "learned.json", "--model.prompt_checkpoint", other) == 0
    assert calibrate_main(["--class_name", "round_object", "--normal_dir", str(run / "line" / "round_object"), "--prompt_file", str(other),
                           "--output", str(tmp_path / "other.json"), *_backbone_args()]) == 0
    assert _predict(run, "both_other", tmp_path / "other.json", "--model.prompt_checkpoint", other) == 2
    assert "prompt_hash: 'learned prompts" in capsys.readouterr().err


def test_calibrate_reuses_a_runs_backbone_and_settings_from_its_config(run, tmp_path):
    config = next(p for name in ("config_fit.yaml", "config.yaml") if (p := run / "fit" / name).is_file())
    normal = run / "source" / "round_object" / "train" / "good"
    prompts = run / "fit" / "prompts" / "learnable_prompts_epoch1.pt"
    assert calibrate_main(["--class_name", "round_object", "--normal_dir", str(normal), "--prompt_file", str(prompts),
                           "--config", str(config), "--output", str(tmp_path / "from_config.json")]) == 0  # no --backbone.* flags
    from_config = load_thresholds(tmp_path / "from_config.json")
    assert from_config.provenance == load_thresholds(run / "learned.json").provenance
    assert from_config.image_threshold == load_thresholds(run / "learned.json").image_threshold
