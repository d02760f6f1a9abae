"""Online with credentials, offline without, never a prompt; one folder per run."""

from pathlib import Path

import pytest

from tipsomaly.wandb_setup import AutoWandbLogger, configure_wandb, sync_command


def test_no_credentials_means_offline_without_asking(monkeypatch):
    monkeypatch.setattr("sys.stdin", None)  # no terminal: a prompt would crash, not wait
    assert configure_wandb() == "offline"
    import os

    assert os.environ["WANDB_MODE"] == "offline"


def test_an_api_key_means_online(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert configure_wandb() == "online"


def test_a_stored_login_means_online_and_is_checked_without_prompt(monkeypatch):
    calls = []

    def login(**kwargs):  # stands in for a `wandb login` done earlier (netrc); the real one is global state
        calls.append(kwargs)
        return True

    monkeypatch.setattr("wandb.login", login)
    assert configure_wandb() == "online"
    assert calls == [{"prompt": False, "verify": False}]


@pytest.mark.parametrize(("env", "expected"), [("disabled", "disabled"), ("dryrun", "offline"), ("online", "online")])
def test_an_explicit_wandb_mode_wins(monkeypatch, env, expected):
    monkeypatch.setenv("WANDB_MODE", env)
    assert configure_wandb() == expected


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="'sometimes' is not one of"):
        configure_wandb("sometimes")


def test_each_run_gets_its_own_folder_under_save_dir(tmp_path):
    first = AutoWandbLogger(save_dir=tmp_path / "runs")
    second = AutoWandbLogger(save_dir=tmp_path / "runs")
    assert first.mode == second.mode == "offline"
    assert first.save_dir != second.save_dir
    assert first.save_dir == str(tmp_path / "runs" / first.version)


def test_a_relative_save_dir_is_made_absolute_where_the_run_starts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the wandb service keeps the working dir of the process's first run
    assert AutoWandbLogger(save_dir="runs", id="r1").save_dir == str(tmp_path / "runs" / "r1")


def test_under_a_sweep_agent_the_run_id_is_the_agents(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_RUN_ID", "agent42")
    assert AutoWandbLogger(save_dir=tmp_path).save_dir == str(tmp_path / "agent42")


def test_offline_run_says_once_where_it_is_and_how_to_sync(tmp_path, caplog):
    logger = AutoWandbLogger(save_dir=tmp_path / "runs", id="abc123")
    with caplog.at_level("INFO"):
        run = logger.experiment
        logger.experiment  # noqa: B018 - a second access must not repeat the notice
    messages = [r.getMessage() for r in caplog.records if "W&B is offline" in r.getMessage()]
    logger.finalize("success")
    assert len(messages) == 1
    assert "wandb sync " + str(tmp_path / "runs" / "abc123" / "wandb" / "offline-run-") in messages[0]
    assert run.id == "abc123" and logger._experiment is None  # closed, so a next Trainer starts its own run
    assert sync_command("a/b") == "wandb sync a/b"


class FakeArtifacts:
    """Stands in for `wandb.Api()`: each artifact name holds its own prompt files; records what was asked."""

    def __init__(self, files: dict[str, list[str]]):
        self.files, self.asked = files, []

    def __call__(self):  # monkeypatched over the class `wandb.Api`
        return self

    def artifact(self, name, type):  # noqa: A002 - wandb's signature
        self.asked.append((name, type))
        files = self.files[name]

        class Artifact:
            version = name.rsplit(":", 1)[1].replace("latest", "v7")  # the server resolves an alias

            def download(self, root):
                Path(root).mkdir(parents=True, exist_ok=True)
                for file in files:
                    (Path(root) / file).write_bytes(f"{name} {file}".encode())
                return root

        return Artifact()


def test_a_prompt_artifact_resolves_to_its_own_newest_prompts_by_epoch_number(tmp_path, monkeypatch):
    from tipsomaly.wandb_setup import is_artifact_name, prompt_file_from_artifact

    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.setattr("sys.stdin", None)  # a login prompt would crash here, not wait
    api = FakeArtifacts({"me/tips/prompts-a:v0": ["learnable_prompts_epoch3.pt", "learnable_prompts_epoch10.pt"],
                         "me/tips/prompts-b:v1": ["learnable_prompts_epoch2.pt"],
                         "me/tips/prompts-b:latest": ["learnable_prompts_epoch4.pt"]})
    monkeypatch.setattr("wandb.Api", api)
    assert is_artifact_name("me/tips/prompts-abc123:v0") and not is_artifact_name("runs/prompts.pt")
    first = prompt_file_from_artifact("me/tips/prompts-a:v0", tmp_path)
    second = prompt_file_from_artifact("me/tips/prompts-b:v1", tmp_path)  # same root: must not see a's epoch10
    latest = prompt_file_from_artifact("me/tips/prompts-b:latest", tmp_path)
    assert first == tmp_path / "me_tips_prompts-a_v0" / "learnable_prompts_epoch10.pt"  # 10 > 3, not a text sort
    assert second == tmp_path / "me_tips_prompts-b_v1" / "learnable_prompts_epoch2.pt"
    assert second.read_bytes() == b"me/tips/prompts-b:v1 learnable_prompts_epoch2.pt"
    assert latest == tmp_path / "me_tips_prompts-b_v7" / "learnable_prompts_epoch4.pt"  # the version fetched, not "latest"
    assert api.asked == [("me/tips/prompts-a:v0", "prompts"), ("me/tips/prompts-b:v1", "prompts"), ("me/tips/prompts-b:latest", "prompts")]


def test_an_artifact_without_prompt_files_is_refused_naming_what_it_holds(tmp_path, monkeypatch):
    from tipsomaly.wandb_setup import prompt_file_from_artifact

    monkeypatch.setattr("wandb.Api", FakeArtifacts({"me/tips/model:v0": ["model.ckpt"]}))
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    with pytest.raises(ValueError, match=r"holds no learnable_prompts_epochN.pt \(\['model.ckpt'\]\)"):
        prompt_file_from_artifact("me/tips/model:v0", tmp_path)


def test_a_prompt_artifact_name_offline_says_why_in_one_line(tmp_path):
    from tipsomaly.wandb_setup import prompt_file_from_artifact

    with pytest.raises(ValueError, match="is a W&B artifact, but W&B is offline") as error:
        prompt_file_from_artifact("me/tips/prompts-abc123:v0", tmp_path)
    assert "\n" not in str(error.value)
