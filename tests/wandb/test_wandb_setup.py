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


def test_a_stored_login_means_online_and_is_read_without_starting_wandb(monkeypatch, tmp_path):
    import os

    from tipsomaly.wandb_setup import _server

    def login(**kwargs):  # wandb.login would start wandb's session before WANDB_MODE is set (its env warning)
        raise AssertionError("configure_wandb must not call wandb.login")

    def decide():
        mode = configure_wandb()
        monkeypatch.delenv("WANDB_MODE")  # configure_wandb exports its decision; decide afresh each time
        return mode

    monkeypatch.setattr("wandb.login", login)
    assert decide() == "offline"
    netrc = Path(os.environ["NETRC"])  # what `wandb login` writes, in this test's HOME
    netrc.write_text(f"machine {_server()[0]}\n  login user\n  password {'k' * 40}\n")
    netrc.chmod(0o600)
    assert decide() == "online"
    netrc.write_text("machine example.org\n  login user\n  password secret\n")
    assert decide() == "offline"  # a key for another host is no W&B key


@pytest.mark.parametrize(("env", "expected"), [("disabled", "disabled"), ("dryrun", "offline"), ("offline", "offline")])
def test_an_explicit_wandb_mode_wins(monkeypatch, env, expected):
    monkeypatch.setenv("WANDB_MODE", env)
    assert configure_wandb() == expected


def test_explicit_online_with_a_key_is_online_and_without_one_is_one_line_saying_how_to_log_in(monkeypatch):
    from tipsomaly.wandb_setup import WandbLoginError

    monkeypatch.setenv("WANDB_MODE", "online")
    with pytest.raises(WandbLoginError) as error:
        configure_wandb()
    assert str(error.value) == ("W&B is asked to be online (WANDB_MODE=online) but has no API key: run `wandb login` or set "
                                "WANDB_API_KEY (or WANDB_MODE=offline to log locally and `wandb sync` later).")
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert configure_wandb() == "online"


def test_a_key_without_a_reachable_server_waits_a_bounded_time_then_logs_offline_said_once(tmp_path, monkeypatch, caplog):
    import socket
    import time

    from tipsomaly import wandb_setup

    def hanging(address, timeout=None):  # a network that swallows packets: name lookup and connect never answer
        time.sleep(60)

    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.example.invalid")
    monkeypatch.setattr(socket, "create_connection", hanging)
    monkeypatch.setattr(wandb_setup, "PROBE_SECONDS", 1.0)
    start = time.monotonic()
    logger = AutoWandbLogger(save_dir=tmp_path / "runs", id="net1")
    assert time.monotonic() - start < 3.0 and logger.mode == "offline"
    with caplog.at_level("INFO"):
        logger.experiment  # noqa: B018
        logger.experiment  # noqa: B018
    logger.finalize("success")
    said = [r.getMessage() for r in caplog.records if "W&B" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith(
        "W&B is offline (credentials found, but the W&B server wandb.example.invalid:443 did not answer within 1 s): run saved in ")
    assert "upload later with `wandb sync " + str(tmp_path / "runs" / "net1" / "wandb" / "offline-run-") in said[0]


def test_a_refused_connection_is_offline_at_once(tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # the discard port: nothing listens here
    start = time.monotonic()
    logger = AutoWandbLogger(save_dir=tmp_path, id="net2")
    assert logger.mode == "offline" and time.monotonic() - start < 3.5
    assert "127.0.0.1:9 is unreachable (ConnectionRefusedError" in logger._why


def test_a_save_dir_that_is_a_file_falls_back_to_a_temporary_folder_and_says_so(tmp_path, monkeypatch, caplog):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "wandb").write_text("not a folder")
    logger = AutoWandbLogger(save_dir=tmp_path / "runs" / "wandb", id="f1")
    with caplog.at_level("INFO"):
        run = logger.experiment
    logger.finalize("success")
    assert logger.save_dir == str(tmp_path / "tmp" / "tipsomaly_wandb" / "f1") and run.id == "f1"
    assert any((tmp_path / "tmp" / "tipsomaly_wandb" / "f1" / "wandb").glob("offline-run-*"))
    moved = [r.getMessage() for r in caplog.records if "instead" in r.getMessage()]
    assert moved == [f"W&B: '{tmp_path / 'runs' / 'wandb'}' is a file, not a folder (save_dir '{tmp_path / 'runs' / 'wandb'}'); "
                     f"this run's W&B files go to '{tmp_path / 'tmp' / 'tipsomaly_wandb' / 'f1'}' instead (results are not "
                     "affected). Move it away to use the usual folder."]
    assert (tmp_path / "runs" / "wandb").read_text() == "not a folder"


def test_an_offline_run_prints_none_of_wandbs_own_advice(tmp_path, monkeypatch, capfd):
    monkeypatch.delenv("WANDB_SILENT")
    logger = AutoWandbLogger(save_dir=tmp_path, id="quiet1")
    logger.experiment  # noqa: B018
    logger.log_metrics({"a": 1.0})
    logger.finalize("success")
    out, err = capfd.readouterr()
    for noise in ("anonymous setting has no effect", "environment variables will be ignored", "wandb online",
                  "Run history", "wandb leet"):
        assert noise not in out + err


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
