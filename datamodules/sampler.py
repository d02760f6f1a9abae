"""A distributed sampler for evaluation that hands every sample to exactly one rank.

torch's DistributedSampler (which Lightning injects under DDP) pads the index list with repeats so all ranks
get equal counts; evaluated samples then count twice and skew AUROC/AUPRO. Here rank r takes indices
r, r + W, r + 2W, ... of W ranks: no padding, counts differ by at most one between ranks.

It subclasses DistributedSampler so that Lightning (`_requires_distributed_sampler`) leaves it in place.
With unequal counts some ranks run one batch fewer, so test/validation steps must not call collectives
(e.g. `self.log(..., sync_dist=True)`); metrics synced once at epoch end are fine.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Optional

from torch.utils.data import DistributedSampler


class NonRepeatingDistributedSampler(DistributedSampler):
    """Strided shard of `range(len(dataset))` for one rank, in order, without padding or shuffling.

    Args:
        dataset: anything with a length.
        num_replicas: the world size; default that of the initialised process group.
        rank: this process's rank; default that of the initialised process group.
    """

    def __init__(self, dataset: Sized, num_replicas: Optional[int] = None, rank: Optional[int] = None) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        self.total_size = len(dataset)
        self.num_samples = len(range(self.rank, self.total_size, self.num_replicas))

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.total_size, self.num_replicas))

    def __len__(self) -> int:
        return self.num_samples
