import math

import numpy as np
import pytest
import sklearn.metrics
import torch
from scipy import ndimage
from sklearn.metrics import average_precision_score, roc_auc_score

from lightning_modules.metrics import PixelMetrics
from test_curves import sklearn_f1_max


def computed(maps, masks, **kwargs):
    metric = PixelMetrics(**kwargs)
    for batch in torch.arange(len(maps)).split(3):
        metric.update(maps[batch], masks[batch])
    return metric.compute(), metric


def region_labels(masks):
    """Per-mask 8-connected components, numbered globally: [N, H, W] int, 0 = normal."""
    labels, offset = np.zeros(masks.shape, int), 0
    for i, mask in enumerate(masks):
        lab, n = ndimage.label(mask, structure=np.ones((3, 3)))
        labels[i] = np.where(lab > 0, lab + offset, 0)
        offset += n
    return labels, offset


def aupro_by_threshold_loop(maps, masks, fpr_limit=0.3):
    """MVTec AUPRO by its definition: a threshold at every distinct score, PRO by region, the
    curve from (0, 0) cut at fpr_limit with PRO interpolated there, area / fpr_limit."""
    maps, masks = maps.numpy().astype(np.float64), masks.numpy().astype(bool)
    labels, n_regions = region_labels(masks)
    sizes = np.bincount(labels.ravel())[1:]
    fprs, pros = [0.0], [0.0]
    for t in np.unique(maps)[::-1]:
        above = maps >= t
        fprs.append(above[~masks].mean())
        pros.append(np.mean(np.bincount(labels[above], minlength=n_regions + 1)[1:] / sizes))
    fprs, pros = np.array(fprs), np.array(pros)
    inside = fprs <= fpr_limit
    x, y = list(fprs[inside]), list(pros[inside])
    if x[-1] < fpr_limit:
        nxt = np.argmax(fprs > fpr_limit)
        x0, x1, y0, y1 = fprs[nxt - 1], fprs[nxt], pros[nxt - 1], pros[nxt]
        x.append(fpr_limit)
        y.append(y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0))
    return np.trapezoid(y, x) / fpr_limit


def aupro_as_in_paper_code(maps, masks, steps=200, expect_fpr=0.3):
    """The TIPS paper's AUPRO procedure, spelled out: threshold loop, per-region overlap."""
    labels, n_regions = region_labels(masks.numpy().astype(bool))
    labels = torch.from_numpy(labels)
    normal = masks == 0
    low, high = maps.min().item(), maps.max().item()
    pros, fprs = [], []
    for th in torch.arange(low, high, (high - low) / steps):
        flagged = maps > th
        overlaps = [flagged[labels == r].sum().item() / (labels == r).sum().item() for r in range(1, n_regions + 1)]
        pros.append(np.mean(overlaps))
        fprs.append(torch.logical_and(normal, flagged).sum().item() / normal.sum().item())
    pros, fprs = torch.tensor(pros), torch.tensor(fprs)
    kept = fprs < expect_fpr
    fprs = fprs[kept]
    fprs = (fprs - fprs.min()) / (fprs.max() - fprs.min())
    return sklearn.metrics.auc(fprs.numpy(), pros[kept].numpy())


def test_hand_computed_example():
    # Two one-pixel regions (0.9, 0.2) and two normal pixels (0.8, 0.1). Up to FPR 0.3 the PRO
    # curve is 0.5 (only 0.9 is found before 0.8 raises FPR to 0.5): AUPRO = 0.5.
    maps = torch.tensor([[[0.9, 0.8, 0.2, 0.1]]])
    masks = torch.tensor([[[1, 0, 1, 0]]])
    for exact in (True, False):
        result, _ = computed(maps, masks, exact=exact)
        assert result["aupro"] == pytest.approx(0.5)
        assert result["auroc"] == pytest.approx(3 / 4)


@pytest.mark.parametrize("levels", [None, 16])
def test_exact_mode_matches_sklearn_and_threshold_loop(random_maps, levels):
    maps, masks = random_maps(6, 24, seed=3, levels=levels)
    result, _ = computed(maps, masks, exact=True)
    y, s = masks.reshape(-1).numpy(), maps.reshape(-1).numpy()
    assert result["auroc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert result["ap"] == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert result["f1_max"] == pytest.approx(sklearn_f1_max(y, s), abs=1e-12)
    assert result["aupro"] == pytest.approx(aupro_by_threshold_loop(maps, masks), abs=1e-12)


def test_exact_aupro_matches_threshold_loop_on_structured_maps(realistic_maps):
    maps, masks = realistic_maps(6, 40, seed=4)
    result, _ = computed(maps, masks, exact=True)
    assert result["aupro"] == pytest.approx(aupro_by_threshold_loop(maps, masks), abs=1e-12)


def test_streaming_is_exact_on_maps_at_bin_edges(random_maps):
    maps, masks = random_maps(6, 24, seed=5)
    maps = torch.clamp(torch.floor(maps * 1024), max=1023) / 1024  # the top bin also holds 1.0
    streaming, _ = computed(maps, masks, bins=1024)
    exact, _ = computed(maps, masks, exact=True)
    assert streaming == pytest.approx(exact, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_streaming_is_within_its_bound_and_1e_3_of_exact_on_realistic_maps(realistic_maps, seed):
    maps, masks = realistic_maps(12, 128, seed=seed)
    streaming, metric = computed(maps, masks)
    exact, _ = computed(maps, masks, exact=True)
    bounds = metric.binning_error_bounds()
    for key in ("auroc", "ap", "f1_max", "aupro"):
        error = abs(streaming[key] - exact[key])
        assert error <= bounds[key] + 1e-12, key
        assert bounds[key] <= 1e-3, key


def test_reference_aupro_equals_the_paper_procedure(random_maps, realistic_maps):
    # With and without ties (maps on a 1/15 grid), and smooth maps.
    for maps, masks in (random_maps(4, 24, seed=6, levels=16), random_maps(4, 24, seed=6), realistic_maps(4, 32, seed=7)):
        result, _ = computed(maps, masks, exact=True, aupro_definition="reference")
        assert result["aupro"] == pytest.approx(aupro_as_in_paper_code(maps, masks), abs=1e-9)


def test_streaming_reference_aupro_is_within_1e_3_on_realistic_maps(realistic_maps):
    maps, masks = realistic_maps(12, 128, seed=8)
    streaming, _ = computed(maps, masks, aupro_definition="reference")
    exact, _ = computed(maps, masks, exact=True, aupro_definition="reference")
    assert abs(streaming["aupro"] - exact["aupro"]) <= 1e-3


def test_no_anomaly_anywhere_gives_nan():
    result, _ = computed(torch.rand(2, 8, 8), torch.zeros(2, 8, 8))
    assert all(math.isnan(v) for v in result.values())


def test_maps_outside_score_range_are_an_error_at_compute():
    metric = PixelMetrics()
    metric.update(torch.full((1, 4, 4), 1.5), torch.ones(1, 4, 4))
    with pytest.raises(ValueError, match=r"span \[1.5, 1.5\].*score_range"):
        metric.compute()


def test_bounds_are_attained_when_one_bin_hides_the_whole_ranking():
    # Every anomalous pixel (0.3) outranks every normal one (0.2), but with 2 bins both share
    # bin 0: exact AUROC, AP, F1-max are 1, binned ones are the tie values, and the bounds say so.
    maps = torch.tensor([[[0.3, 0.2, 0.2, 0.2]]])
    masks = torch.tensor([[[1, 0, 0, 0]]])
    binned, metric = computed(maps, masks, bins=2)
    exact, _ = computed(maps, masks, exact=True)
    assert exact["auroc"] == exact["ap"] == exact["f1_max"] == exact["aupro"] == 1.0
    assert binned["auroc"] == pytest.approx(0.5)
    assert binned["ap"] == pytest.approx(0.25)
    bounds = metric.binning_error_bounds()
    for key in ("auroc", "ap", "f1_max"):
        assert bounds[key] == pytest.approx(exact[key] - binned[key])
    assert exact["aupro"] - binned["aupro"] <= bounds["aupro"]


def test_maps_in_another_range_work_once_score_range_says_so(realistic_maps):
    maps, masks = realistic_maps(4, 48, seed=9)
    shifted, _ = computed(2 * maps - 1, masks, score_range=(-1.0, 1.0))
    exact, _ = computed(maps, masks, exact=True)
    assert shifted == pytest.approx(exact, abs=1e-3)
