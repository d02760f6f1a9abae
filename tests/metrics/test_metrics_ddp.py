"""Two gloo processes give the numbers of one process, for an odd number of samples."""

import json
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DistributedSampler

from lightning_modules.metrics import ImageMetrics, PixelMetrics
from lightning_modules.metrics.regions import region_weights_of_stack

N_SAMPLES = 7


def samples():
    g = torch.Generator().manual_seed(11)
    maps = torch.rand(N_SAMPLES, 20, 20, generator=g)
    masks = torch.rand(N_SAMPLES, 20, 20, generator=g) < 0.1
    masks[0] = False  # one image without anomaly
    maps = torch.clamp(maps + 0.3 * masks, 0, 1)
    scores = torch.tensor([0.2, 0.9, 0.4, 0.7, 0.35, 0.5, 0.8])
    labels = torch.tensor([0, 1, 0, 1, 1, 0, 1])  # image AUROC 10/12; with sample 0 twice, 14/16
    return maps, masks, scores, labels


def evaluate(rank: int | None, world_size: int) -> dict[str, dict[str, float]]:
    """All metrics over the samples this rank is given; rank None: one process, every sample."""
    maps, masks, scores, labels = samples()
    image, image_fed_by_rank_0_only = ImageMetrics(), ImageMetrics()
    # As under Lightning's bf16-true: built with a bfloat16 default dtype, then moved with .to(dtype).
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        image_bf16_fed_by_rank_0_only = ImageMetrics().to(dtype=torch.bfloat16)
    finally:
        torch.set_default_dtype(previous)
    weights = torch.from_numpy(region_weights_of_stack(masks.numpy()))
    pixel = {
        "streaming": PixelMetrics(),
        "exact": PixelMetrics(exact=True),
        "reference": PixelMetrics(aupro_definition="reference"),
        "fed_by_rank_0_only": PixelMetrics(exact=True),
        "worker_weights": PixelMetrics(),
    }
    if rank is None:
        image.update(scores, labels, index=torch.arange(N_SAMPLES))
        image_fed_by_rank_0_only.update(scores, labels)
        image_bf16_fed_by_rank_0_only.update(scores, labels)
        for name, metric in pixel.items():
            metric.update(maps, masks, region_weights=weights if name == "worker_weights" else None)
    else:
        # A DistributedSampler pads 7 samples to 8: rank 1 gets sample 0 a second time.
        index = torch.tensor(list(DistributedSampler(range(N_SAMPLES), world_size, rank, shuffle=False)))
        image.update(scores[index], labels[index], index=index)
        own = torch.arange(rank, N_SAMPLES, world_size)  # a non-repeating split: 4 + 3
        for name in ("streaming", "exact", "reference"):
            pixel[name].update(maps[own], masks[own])
        pixel["worker_weights"].update(maps[own], masks[own], region_weights=weights[own])
        if rank == 0:  # rank 1's empty list states must still gather
            image_fed_by_rank_0_only.update(scores, labels)
            image_bf16_fed_by_rank_0_only.update(scores, labels)
            pixel["fed_by_rank_0_only"].update(maps, masks)
    results = {
        "image": image.compute(),
        "image_fed_by_rank_0_only": image_fed_by_rank_0_only.compute(),
        "image_bf16_fed_by_rank_0_only": image_bf16_fed_by_rank_0_only.compute(),
        **{name: m.compute() for name, m in pixel.items()},
    }
    results["streaming_bounds"] = pixel["streaming"].binning_error_bounds()
    return results


def _worker(rank: int, world_size: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        results = evaluate(rank, world_size)
        with open(f"{out}/rank{rank}.json", "w") as f:
            json.dump(results, f)
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one_process(tmp_path):
    mp.spawn(_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    single = evaluate(None, 1)
    for rank in (0, 1):
        ddp = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert ddp["image"] == ddp["image_fed_by_rank_0_only"] == ddp["image_bf16_fed_by_rank_0_only"] == single["image"]
        assert ddp["worker_weights"] == ddp["streaming"]
        for name in ("streaming", "exact", "reference", "fed_by_rank_0_only", "worker_weights", "streaming_bounds"):
            assert ddp[name] == pytest.approx(single[name], abs=1e-12, nan_ok=True), name
