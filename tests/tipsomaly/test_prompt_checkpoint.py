import os

import pytest
import torch

from lightning_modules.tipsomaly.prompt_checkpoint import (
    PromptCheckpoint,
    PromptCheckpointError,
    load_prompt_checkpoint,
    save_prompt_checkpoint,
)

SETTINGS = {"prompt_method": "concat", "n_prompt": 8, "width": 512, "backbone": "tips-l14h", "image_size": 518, "fixed_prompts": "industrial", "epoch": 3, "decoupled": True, "note": None}


def reference_prompts(n_prompt=8, width=512, count=2):
    """What the reference's text_encoder trains: a ParameterList of [normal, abnormal] prompts."""
    return torch.nn.ParameterList([torch.nn.Parameter(torch.randn(n_prompt, width) * 0.02) for _ in range(count)])


def test_round_trip_of_our_format(tmp_path):
    ckpt = PromptCheckpoint(
        normal=torch.nn.Parameter(torch.randn(8, 512)),
        abnormal=torch.randn(8, 512),
        settings=dict(SETTINGS),
        deep=torch.randn(2, 4, 512),
    )
    path = tmp_path / "prompts" / "epoch_3.pt"
    save_prompt_checkpoint(path, ckpt)
    loaded = load_prompt_checkpoint(path, expected_width=512)
    assert type(loaded.normal) is torch.Tensor and not loaded.normal.requires_grad
    assert torch.equal(loaded.normal, ckpt.normal.detach()) and torch.equal(loaded.abnormal, ckpt.abnormal) and torch.equal(loaded.deep, ckpt.deep)
    assert loaded.settings == SETTINGS and (loaded.n_prompt, loaded.width) == (8, 512)
    assert os.listdir(path.parent) == ["epoch_3.pt"]  # no temporary file left behind
    # Plain tensors and values only: torch's default weights-only loader reads it with no allow-list.
    assert torch.load(path, weights_only=True)["settings"]["epoch"] == 3


def test_a_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "prompts.pt"
    save_prompt_checkpoint(path, PromptCheckpoint(torch.zeros(2, 8), torch.ones(2, 8), {"epoch": 1}))

    def crash(obj, f):
        open(f, "wb").write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_prompt_checkpoint(path, PromptCheckpoint(torch.ones(2, 8), torch.ones(2, 8), {"epoch": 2}))
    monkeypatch.undo()
    assert load_prompt_checkpoint(path).settings == {"epoch": 1}
    assert os.listdir(tmp_path) == ["prompts.pt"]


def test_width_mismatch_names_both_widths(tmp_path):
    path = tmp_path / "prompts.pt"
    save_prompt_checkpoint(path, PromptCheckpoint(torch.randn(8, 512), torch.randn(8, 512)))
    with pytest.raises(PromptCheckpointError, match=f"prompts in {path} are 512 wide but the backbone's text width is 768; use the checkpoint trained with that backbone"):
        load_prompt_checkpoint(path, expected_width=768)


@pytest.mark.parametrize("wrap", [lambda p: p, lambda p: {"learnable_prompts": p}], ids=["bare", "dict"])
def test_reference_files_are_imported(tmp_path, wrap):
    prompts = reference_prompts()
    path = tmp_path / "learnable_params_5.pth"
    torch.save(wrap(prompts), path)
    loaded = load_prompt_checkpoint(path, expected_width=512)
    assert torch.equal(loaded.normal, prompts[0].detach()) and torch.equal(loaded.abnormal, prompts[1].detach())
    assert type(loaded.normal) is torch.Tensor and loaded.deep is None
    assert loaded.settings == {"source": "reference", "source_file": "learnable_params_5.pth", "n_prompt": 8, "width": 512}


def test_reference_deep_parameters_are_stacked(tmp_path):
    # The reference's save line has a commented-out "deep_parameters" entry; None when deep prompts are off.
    path = tmp_path / "learnable_params_2.pth"
    deep = reference_prompts(n_prompt=4, count=3)
    torch.save({"learnable_prompts": reference_prompts(), "deep_parameters": deep}, path)
    loaded = load_prompt_checkpoint(path)
    assert loaded.deep.shape == (3, 4, 512) and torch.equal(loaded.deep[2], deep[2].detach())
    torch.save({"learnable_prompts": reference_prompts(), "deep_parameters": None}, path)
    assert load_prompt_checkpoint(path).deep is None


def test_reference_file_saved_from_a_gpu_loads_on_the_cpu(tmp_path, monkeypatch):
    path = tmp_path / "learnable_params_1.pth"
    prompts = reference_prompts(width=768)
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")  # as written by train.py on 'cuda'
    torch.save({"learnable_prompts": prompts}, path)
    monkeypatch.undo()
    loaded = load_prompt_checkpoint(path, expected_width=768)
    assert loaded.normal.device.type == "cpu" and torch.equal(loaded.abnormal, prompts[1].detach())


def test_reference_files_of_the_wrong_shape_are_refused(tmp_path):
    cases = {
        "three.pth": (reference_prompts(count=3), "holds 3 tensors, expected 2"),
        "ragged.pth": (torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(8, 512)), torch.nn.Parameter(torch.zeros(4, 512))]), r"normal prompts are \(8, 512\) but abnormal are \(4, 512\)"),
        "other_keys.pth": ({"state_dict": {"w": torch.zeros(2)}}, r"unrecognised content: a dict with keys \['state_dict'\]"),
        "tensor.pth": (torch.zeros(2, 8, 512), "unrecognised content of type Tensor"),
    }
    for name, (content, message) in cases.items():
        torch.save(content, tmp_path / name)
        with pytest.raises(PromptCheckpointError, match=message):
            load_prompt_checkpoint(tmp_path / name)


def test_missing_and_non_torch_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="learnable_params_9.pth"):
        load_prompt_checkpoint(tmp_path / "learnable_params_9.pth")
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    with pytest.raises(PromptCheckpointError, match="not a readable prompt checkpoint"):
        load_prompt_checkpoint(tmp_path / "notes.txt")


class WritesMarker:
    """A pickle that creates a file when unpickled: stands for any code an attacker could run."""

    def __init__(self, how, marker):
        self.how, self.marker = how, marker

    def __reduce__(self):
        if self.how == "open":
            return (open, (str(self.marker), "w"))
        return (os.system, (f"touch '{self.marker}'",))


@pytest.mark.parametrize("how, forbidden", [("open", f"{open.__module__}.open"), ("system", f"{os.system.__module__}.system")])
def test_malicious_pickle_is_refused_without_running_it(tmp_path, how, forbidden):
    marker = tmp_path / "pwned"
    path = tmp_path / "learnable_params_1.pth"
    torch.save({"learnable_prompts": WritesMarker(how, marker)}, path)
    with pytest.raises(PromptCheckpointError, match=f"refused to load: its pickle imports .*{forbidden}"):
        load_prompt_checkpoint(path)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the unsafe way does run it: the file really is malicious
    assert marker.exists()


def test_saving_refuses_settings_that_are_not_plain(tmp_path):
    with pytest.raises(PromptCheckpointError, match="setting 'classes'"):
        save_prompt_checkpoint(tmp_path / "p.pt", PromptCheckpoint(torch.zeros(2, 8), torch.zeros(2, 8), {"classes": ["a", "b"]}))
    with pytest.raises(PromptCheckpointError, match="settings say width=16 but the prompts have width=8"):
        save_prompt_checkpoint(tmp_path / "p.pt", PromptCheckpoint(torch.zeros(2, 8), torch.zeros(2, 8), {"width": 16}))
    assert not (tmp_path / "p.pt").exists()


def test_the_latest_prompt_file_is_the_largest_epoch_number_not_the_last_in_text_order(tmp_path):
    from lightning_modules.tipsomaly.prompt_checkpoint import latest_prompt_file

    for epoch in (3, 10, 9):
        save_prompt_checkpoint(tmp_path / f"learnable_prompts_epoch{epoch}.pt", PromptCheckpoint(torch.zeros(2, 8), torch.zeros(2, 8), {"epoch": epoch}))
    (tmp_path / "learnable_prompts_epochX.pt").write_bytes(b"")  # not a prompt file name
    assert latest_prompt_file(tmp_path).name == "learnable_prompts_epoch10.pt"
    assert latest_prompt_file(tmp_path / "missing") is None
