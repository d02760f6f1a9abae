import pytest


@pytest.fixture(autouse=True)
def no_wandb_account(tmp_path, monkeypatch):
    """No credentials, no prompt, nothing written outside tmp_path: the machine these tests run on."""
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_DIR", "WANDB_SWEEP_ID", "WANDB_RUN_ID"):
        monkeypatch.setenv(name, "")  # recorded first, so whatever a test (or configure_wandb) sets is undone
        monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NETRC", str(home / ".netrc"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(home / ".config" / "wandb"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(home / ".cache" / "wandb"))
    monkeypatch.setenv("WANDB_DATA_DIR", str(home / ".local" / "wandb"))
    monkeypatch.setenv("WANDB_SILENT", "true")
