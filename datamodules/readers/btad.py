"""BTAD (beanTech Anomaly Detection), as in `BTech_Dataset_transformed/`.

    <root>/01|02|03/test/ok/0000.bmp        normal test images
    <root>/01|02|03/test/ko/0000.bmp        anomalous test images
    <root>/01|02|03/ground_truth/ko/0000.png  their masks, named like the image

Extensions differ between products (01: .bmp images and .png masks, 02: .png, 03: .bmp), which stem pairing
absorbs. Normal rows get `defect_type` "good" like every other reader, anomalous ones "ko".
"""

from __future__ import annotations

import os

import pandas as pd

from datamodules.readers.mvtec import read_class_folders

EXPECTED = "01/test/ok/*.bmp, 01/test/ko/*.bmp and 01/ground_truth/ko/*.png (likewise 02 and 03)"


def read_btad(root: str | os.PathLike, *, allow_missing_masks: bool = False) -> pd.DataFrame:
    """One row per test image of BTAD; class names are the product folders '01', '02', '03'."""
    return read_class_folders(
        root, format_name="btad", normal_dir="ok", expected=EXPECTED, allow_missing_masks=allow_missing_masks
    )
