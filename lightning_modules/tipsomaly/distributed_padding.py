"""Exact evaluation under DDP with any loader: the repeats of torch's padding `DistributedSampler` are marked.

A loader built before the process group exists (e.g. `trainer.test(model, dataloaders=...)`) gets Lightning's
`DistributedSampler`, which pads every rank to equal counts by repeating the first samples, unmarked: they would
count twice in the metrics (7 images on 2 processes: pixel AUROC 40.71 instead of 42.43). Its padding is
deterministic: it builds the full index list (shuffled or not), repeats its head up to `num_replicas * num_samples`
and gives rank r the positions r, r + W, ...; the k-th item of rank r is a repeat exactly when r + k * W >= n.
So each rank marks its items from the `ceil((n - r) / W)`-th on as padding, which the metrics skip.

Samplers that repeat nothing (ours, Lightning's `UnrepeatedDistributedSampler`) need no marks; any other sampler
under DDP (one that drops samples, or a custom one with unknown repeats) is refused with a clear error: never a
silently different number.
"""

from __future__ import annotations

from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler, UnrepeatedDistributedSamplerWrapper
from torch.utils.data import DistributedSampler

from datamodules.sampler import NonRepeatingDistributedSampler

EXACT_SAMPLERS = (NonRepeatingDistributedSampler, UnrepeatedDistributedSampler, UnrepeatedDistributedSamplerWrapper)


def real_items_on_this_rank(loader, world_size: int, where: str) -> int | None:
    """How many of this rank's items are real samples (the rest are padding repeats); None: all are real."""
    if world_size <= 1:
        return None
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, EXACT_SAMPLERS):
        return None
    if type(sampler) is DistributedSampler:  # torch's own padding rule, not a subclass that may change it
        n = len(sampler.dataset)
        if sampler.drop_last and n % sampler.num_replicas:
            raise ValueError(
                f"{where}: its DistributedSampler drops {n % sampler.num_replicas} of {n} samples (drop_last=True), so the metrics "
                "would miss them; use drop_last=False, or pass the data as `datamodule=` (AnomalyDataModule shards evaluation exactly)"
            )
        return len(range(sampler.rank, n, sampler.num_replicas))
    raise ValueError(
        f"{where}: under DDP ({world_size} processes) its sampler {type(sampler).__name__} may repeat or skip samples without "
        "marking them, which would change the metrics; pass the data as `datamodule=` (AnomalyDataModule), use "
        "datamodules.sampler.NonRepeatingDistributedSampler, or let Lightning add its DistributedSampler (use_distributed_sampler=True)"
    )


class PaddingMarks:
    """Per evaluation loader of one rank: counts the items seen and marks those past the real ones as padding."""

    def __init__(self, loaders: list, world_size: int, stage: str):
        self.real = [real_items_on_this_rank(loader, world_size, f"{stage} dataloader {i}") for i, loader in enumerate(loaders)]
        self.seen = [0] * len(loaders)

    def mark(self, dataloader_idx: int, is_padding: list[bool]) -> list[bool]:
        """The batch's padding flags, with the sampler's repeats added (host-side counting: no device sync)."""
        real, start = self.real[dataloader_idx], self.seen[dataloader_idx]
        self.seen[dataloader_idx] += len(is_padding)
        if real is None:
            return is_padding
        return [flag or start + k >= real for k, flag in enumerate(is_padding)]
