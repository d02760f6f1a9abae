"""Distributed samplers: evaluation that counts every sample once, and training shards that stay put.

torch's DistributedSampler (which Lightning injects under DDP) pads the index list with repeats so all ranks
get equal counts; evaluated samples then count twice and skew AUROC/AUPRO. `NonRepeatingDistributedSampler`
gives rank r the indices r, r + W, r + 2W, ... of W ranks, and a rank that would get nothing (a set smaller
than the world) gets one padding index instead, which the dataset marks (`Item.is_padding`) and the metrics
skip: every rank then runs the evaluation hooks, and the results equal those of one process.

`StableShardSampler` trains with shards that never move between ranks: each rank sees the same images in
every epoch (shuffled within its shard), so its frozen-feature cache hits from the second epoch on; a
shuffling DistributedSampler would send each image to another rank next epoch (hit rate ~1 / world size).

Both subclass DistributedSampler so that Lightning (`_requires_distributed_sampler`) leaves them in place.
With unequal counts some evaluation ranks run one batch fewer, so test/validation steps must not call
collectives (e.g. `self.log(..., sync_dist=True)`); metrics synced once at epoch end are fine.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Optional

import torch
from torch.utils.data import DistributedSampler


class NonRepeatingDistributedSampler(DistributedSampler):
    """Strided shard of `range(len(dataset))` for one rank, in order, without repeats or shuffling.

    A rank whose shard is empty yields the single index `len(dataset) + (rank % len(dataset))`: the
    dataset's padding index for that sample (see `AnomalyDataset`), never counted.

    Args:
        dataset: anything with a length.
        num_replicas: the world size; default that of the initialised process group.
        rank: this process's rank; default that of the initialised process group.
    """

    def __init__(self, dataset: Sized, num_replicas: Optional[int] = None, rank: Optional[int] = None) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        self.total_size = len(dataset)
        shard = range(self.rank, self.total_size, self.num_replicas)
        self.indices = list(shard) if len(shard) or not self.total_size else [self.total_size + self.rank % self.total_size]
        self.num_samples = len(self.indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return self.num_samples


class StableShardSampler(DistributedSampler):
    """Rank r trains on indices r, r + W, ... in every epoch, shuffled within the shard by (seed, epoch).

    Shards are padded with repeats to equal length (as DistributedSampler does for training), since every
    rank must run the same number of optimiser steps; a rank whose shard is empty repeats other samples.
    """

    def __init__(self, dataset: Sized, num_replicas: Optional[int] = None, rank: Optional[int] = None, shuffle: bool = True, seed: int = 0):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=False)
        if len(dataset) == 0:
            raise ValueError("StableShardSampler: the training set is empty; check train_sets")
        self.total_size = len(dataset)
        self.shard = list(range(self.rank, self.total_size, self.num_replicas))
        self.num_samples = -(-self.total_size // self.num_replicas)

    def __iter__(self) -> Iterator[int]:
        shard = self.shard
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            shard = [shard[i] for i in torch.randperm(len(shard), generator=generator).tolist()]
        padding = self.num_samples - len(shard)
        source = shard or list(range(self.total_size))  # a rank without a shard repeats others' samples
        return iter(shard + (source * (padding // len(source) + 1))[:padding])

    def __len__(self) -> int:
        return self.num_samples
