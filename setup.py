"""Build step only (everything else is in pyproject.toml): the wheel carries the configs and the demo's tiny model.

They stay where the design names them in the checkout (`configs/`, `tests/data/tips/`) and are copied into the
built package as `tipsomaly/configs/` and `tipsomaly/demo_model/`, which `tipsomaly/package_data.py` looks for first.
setuptools' package-data cannot reach outside a package folder, and mapping them as packages (package-dir) would
turn the editable install into a meta-path finder that prints an "Editable installation" warning.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
DEMO_MODEL_FILES = ("tips_tiny_mlp_vision.npz", "tips_tiny_mlp_text.npz", "tokenizer.model")  # as package_data.py


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads the checkout's own folders
            return
        package = Path(self.build_lib) / "tipsomaly"
        shutil.rmtree(package / "configs", ignore_errors=True)  # a stale build/ must not ship removed configs
        shutil.copytree(HERE / "configs", package / "configs", ignore=shutil.ignore_patterns("*.pyc", "__pycache__"))
        (package / "demo_model").mkdir(parents=True, exist_ok=True)
        for name in DEMO_MODEL_FILES:
            shutil.copy2(HERE / "tests" / "data" / "tips" / name, package / "demo_model" / name)


setup(cmdclass={"build_py": BuildPyWithData})
