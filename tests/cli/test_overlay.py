"""Overlay pictures: image | heatmap | ground-truth contour."""

from __future__ import annotations

import numpy as np

from lightning_modules.callbacks.overlay import CONTOUR_COLOUR, heat_colours, render_overlay


def test_the_heat_scale_runs_blue_to_red_and_clips():
    colours = heat_colours(np.array([[-1.0, 0.0, 1.0, 2.0, np.nan]]))
    assert colours[0, 1].tolist() == [0, 0, 160] and colours[0, 2].tolist() == [220, 0, 0]
    assert colours[0, 0].tolist() == colours[0, 1].tolist() == colours[0, 4].tolist()  # below 0 and NaN: 0
    assert colours[0, 3].tolist() == colours[0, 2].tolist()


def test_three_panels_with_the_mask_outline_in_red():
    image = np.full((3, 16, 16), 0.5, dtype=np.float32)
    mask = np.zeros((16, 16), dtype=bool)
    mask[4:12, 4:12] = True
    picture = render_overlay(image, np.zeros((16, 16)), mask)
    assert picture.shape == (16, 48, 3) and picture.dtype == np.uint8
    assert picture[0, 0].tolist() == [128, 128, 128]  # the image as given
    contour = picture[:, 32:]
    assert contour[4, 6].tolist() == CONTOUR_COLOUR.tolist()  # the region's border
    assert contour[8, 8].tolist() == [128, 128, 128]  # its inside stays visible
    assert render_overlay(image, np.zeros((16, 16))).shape == (16, 32, 3)  # no mask: two panels
