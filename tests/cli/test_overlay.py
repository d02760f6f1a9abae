"""Overlay pictures: image | heatmap | ground-truth contour."""

from __future__ import annotations

import numpy as np

from lightning_modules.callbacks.overlay import CAPTION_HEIGHT, CONTOUR_COLOUR, heat_colours, overlay_name, render_overlay


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


def test_a_wide_image_keeps_its_aspect_and_the_score_is_written_under_the_panels():
    image = np.full((3, 16, 16), 0.5, dtype=np.float32)
    plain = render_overlay(image, np.zeros((16, 16)))
    captioned = render_overlay(image, np.zeros((16, 16)), aspect=2.0, caption="score 0.812  anomalous")
    assert captioned.shape == (16 + CAPTION_HEIGHT, 2 * 32, 3)  # two panels, each 32 x 16 like a 2:1 image
    assert captioned[16:].max() > 128 and captioned[16:].min() == 0  # light text on black
    assert plain.shape == (16, 32, 3)


def test_overlay_names_say_the_defect_and_the_image():
    assert overlay_name("/data/mvtec/bottle/test/broken_large/000.png") == "broken_large_000"
    assert overlay_name("/data/mvtec/bottle/test/good/000.png") == "good_000"
    assert overlay_name("000.png") == "000"


def test_predict_shows_the_judged_anomalous_then_the_highest_scores_first():
    from lightning_modules.callbacks.prediction_writer import PredictionWriter

    writer = PredictionWriter(image_threshold=0.6)
    writer._stage = "predict"
    scores = {0: 0.2, 1: 0.9, 2: 0.55, 3: 0.7, 4: float("nan")}
    ranked = sorted(scores, key=lambda row: writer._order(row, -1, scores[row]))
    assert ranked == [1, 3, 2, 0, 4]  # 0.9 and 0.7 pass the threshold, then 0.55, 0.2; NaN last
    writer._stage = "test"
    assert sorted(range(3), key=lambda row: writer._order(row, [0, 1, 1][row], 0.0)) == [1, 2, 0]  # anomalous first
