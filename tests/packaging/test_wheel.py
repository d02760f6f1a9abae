"""Installed like any package: the wheel, in a fresh virtual environment, run from an empty folder.

What `pip install git+...` does: build a wheel from the checkout and install it without the source tree. The venv
sees the already-installed dependencies (torch, lightning, ...) through a .pth line naming this interpreter's
site-packages, so nothing is downloaded; a path line in a .pth does not run that folder's own .pth files, so an
editable install of the checkout there stays invisible and the code that runs is the wheel's (asserted).
Skip with TIPSOMALY_SKIP_WHEEL_TEST=1 (about a minute on two cores).
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
# Checkout content that is not the project (and must not leak into the wheel from a stale build/).
NOT_SOURCE = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".cache",
              "tipsomaly_runs", "tipsomaly_demo", "lightning_logs", "wandb", "outputs", "notebooks")

def _backend_version() -> tuple[int, ...]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return tuple(int(part) for part in version("setuptools").split(".")[:1])
    except (PackageNotFoundError, ValueError):
        return (0,)


pytestmark = [
    pytest.mark.skipif(bool(os.environ.get("TIPSOMALY_SKIP_WHEEL_TEST")), reason="TIPSOMALY_SKIP_WHEEL_TEST is set"),
    # the test extra installs it; without it pip would download a build backend (tests never download)
    pytest.mark.skipif(_backend_version() < (77,), reason="setuptools>=77 (the build backend) is not installed"),
]


def _run(command: list[str], cwd: Path, env: dict) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    """(the fresh venv, the environment to run it in): the wheel of this checkout installed there."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(WANDB_MODE="disabled", PYTHONDONTWRITEBYTECODE="1")
    _run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q",
          "-w", str(root / "dist")], cwd=root, env=env)
    (wheel,) = (root / "dist").glob("tipsomaly-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root, env=env)
    (own,) = (venv / "lib").glob("python*/site-packages")
    (own / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
         cwd=root, env=env)
    return venv, env


def test_the_wheel_runs_from_an_empty_folder(installed, tmp_path):
    venv, env = installed
    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run([str(venv / "bin" / "python"), "-c",
                  "import tipsomaly, datamodules, lightning_modules;"
                  "print(tipsomaly.__file__, datamodules.__file__, lightning_modules.__file__)"], cwd=empty, env=env)
    for module in where.split():
        assert Path(module).is_relative_to(venv), f"{module} is not the installed copy"

    listing = _run([str(venv / "bin" / "tipsomaly"), "configs"], cwd=empty, env=env)
    assert str(venv) in listing.splitlines()[0]  # the wheel's own copy of configs/
    names = [line.split()[0] for line in listing.splitlines()[1:]]
    assert {"paper.yaml", "mvtec_to_all.yaml", "trainer/cpu.yaml", "sweeps/grid.yaml"} <= set(names)

    printed = _run([str(venv / "bin" / "tipsomaly"), "test", "--config", "mvtec_to_visa.yaml",
                    "--config", "trainer/cpu.yaml", "--print_config"], cwd=empty, env=env)
    config = yaml.safe_load(printed)
    paper = yaml.safe_load((REPO / "configs" / "paper.yaml").read_text())
    assert config["model"]["backbone"]["name"] == paper["model"]["backbone"]["name"]
    assert (config["data"]["shuffle"], config["trainer"]["precision"]) == (paper["data"]["shuffle"], "32-true")

    out = _run([str(venv / "bin" / "tipsomaly"), "demo", "--epochs", "1", "--image_size", "28"], cwd=empty, env=env)
    assert "Target pixel AUROC" in out and (empty / "tipsomaly_demo" / "test_learned" / "test_results.csv").is_file()
    demo = yaml.safe_load((empty / "tipsomaly_demo" / "demo.yaml").read_text())
    for path in [*demo["config"], demo["model"]["backbone"]["vision_checkpoint"]]:
        assert Path(path).is_relative_to(venv)  # the packaged configs and tiny model, not the checkout's
