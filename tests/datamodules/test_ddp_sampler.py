"""NonRepeatingDistributedSampler: every sample on exactly one rank, no padding, left alone by Lightning."""

from __future__ import annotations

import pytest
import torch.distributed as dist
from torch.utils.data import DistributedSampler

from datamodules import AnomalyDataModule, NonRepeatingDistributedSampler, make_synthetic_dataset


@pytest.mark.parametrize("world_size", [2, 3])
@pytest.mark.parametrize("length", [1, 7, 10, 11])
def test_ranks_cover_every_index_exactly_once(world_size, length):
    shards = [list(NonRepeatingDistributedSampler(range(length), num_replicas=world_size, rank=rank))
              for rank in range(world_size)]

    flat = [index for shard in shards for index in shard if index < length]  # indices >= length are padding
    assert sorted(flat) == list(range(length))  # union is everything, nothing twice
    assert [len(NonRepeatingDistributedSampler(range(length), world_size, rank)) for rank in range(world_size)] == [
        len(shard) for shard in shards]
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert all(len(shard) >= 1 for shard in shards)  # every rank runs the evaluation hooks


def test_strided_shards_for_seven_samples_on_three_ranks():
    assert [list(NonRepeatingDistributedSampler(range(7), 3, rank)) for rank in range(3)] == [[0, 3, 6], [1, 4], [2, 5]]


def test_torch_sampler_would_have_repeated_samples():
    # Why this sampler exists: torch pads 7 samples on 3 ranks to 9, so two samples are scored twice.
    padded = [index for rank in range(3) for index in DistributedSampler(range(7), 3, rank, shuffle=False)]
    assert len(padded) == 9 and sorted(padded) != list(range(7))


def test_is_a_distributed_sampler_so_lightning_keeps_it():
    # Lightning's _requires_distributed_sampler replaces samplers that are not DistributedSampler instances.
    assert isinstance(NonRepeatingDistributedSampler(range(3), 2, 0), DistributedSampler)


def test_test_and_val_loaders_use_it_once_torch_distributed_is_initialised(tmp_path):
    root = make_synthetic_dataset(tmp_path / "synthetic", classes=("grid_texture",), n_normal=2, n_anomalous=3)
    spec = {"name": "synthetic", "format": "mvtec", "root": str(root)}
    data = AnomalyDataModule(test_sets=[spec], val_sets=[spec], image_size=32, num_workers=0)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        loaders = data.test_dataloader() + data.val_dataloader()
    finally:
        dist.destroy_process_group()

    assert [type(loader.sampler) for loader in loaders] == [NonRepeatingDistributedSampler] * 2
    assert [list(loader.sampler) for loader in loaders] == [list(range(5))] * 2


@pytest.mark.parametrize("length", [1, 5, 8])
def test_training_shards_stay_on_their_rank_across_epochs(length):
    from datamodules import StableShardSampler

    samplers = [StableShardSampler(range(length), num_replicas=2, rank=rank, seed=3) for rank in range(2)]
    epochs = []
    for epoch in range(3):
        for sampler in samplers:
            sampler.set_epoch(epoch)
        epochs.append([list(sampler) for sampler in samplers])
    for per_rank in epochs:
        assert len(per_rank[0]) == len(per_rank[1]) == -(-length // 2)  # same step count on every rank
        assert set(per_rank[0]) | set(per_rank[1]) == set(range(length))
    if length > 1:
        assert all(set(e[0]) == set(epochs[0][0]) for e in epochs)  # rank 0 keeps its images
        assert len({tuple(e[0]) for e in epochs}) > 1 or length < 4  # but their order changes


def test_a_rank_without_evaluation_samples_gets_one_padding_index():
    assert [list(NonRepeatingDistributedSampler(range(1), 2, rank)) for rank in range(2)] == [[0], [1]]  # 1 = len + 0: padding
