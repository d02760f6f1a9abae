"""`tree`: writes tiny dataset trees (20x16 images) in the authors' layouts under tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SIZE = (20, 16)  # width, height


class TreeWriter:
    def __init__(self, root: Path) -> None:
        self.root = root

    def image(self, relative: str, size: tuple[int, int] = SIZE, mode: str = "RGB", value: int = 128) -> Path:
        """A flat image of `mode` (RGB, L, RGBA, P, I;16, ...) at root/relative."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        width, height = size
        if mode == "I;16":
            Image.fromarray(np.full((height, width), value, dtype=np.uint16)).save(path)
        else:
            Image.new(mode, size, value if mode in ("L", "P", "1") else (value,) * len(mode)).save(path)
        return path

    def mask(self, relative: str, size: tuple[int, int] = SIZE, box: tuple[int, int, int, int] = (2, 2, 6, 5),
             value: int = 255) -> Path:
        """An 'L' mask (saved as JPEG for .jpg), 0 outside and `value` inside box = (x0, y0, x1, y1), end exclusive."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        width, height = size
        array = np.zeros((height, width), dtype=np.uint8)
        x0, y0, x1, y1 = box
        array[y0:y1, x0:x1] = value
        Image.fromarray(array).save(path)
        return path

    def text(self, relative: str, content: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        return path

    def path(self, relative: str) -> str:
        return str(self.root / relative)


@pytest.fixture
def tree(tmp_path: Path) -> TreeWriter:
    return TreeWriter(tmp_path)
