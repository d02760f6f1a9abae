"""Two DDP processes on CPU (gloo): the test loaders give every sample to exactly one rank."""

from __future__ import annotations

import atexit
import json
from pathlib import Path

import lightning as L
import torch
import torch.distributed as dist

from datamodules import AnomalyDataModule, Batch, make_synthetic_dataset


class IndexRecorder(L.LightningModule):
    """Collects (set, index) of every tested sample on all ranks; rank 0 writes them to `out`."""

    def __init__(self, out: str) -> None:
        super().__init__()
        self.out = out
        self.layer = torch.nn.Linear(1, 1)  # DDP needs a parameter to wrap
        self.seen: list[tuple[str, int]] = []

    def setup(self, stage: str) -> None:
        # Lightning leaves gloo process groups alive at exit, where torch may then abort with "terminate called
        # without an active exception" (pytorch/pytorch#190489); destroy it while the interpreter is alive.
        atexit.register(lambda: dist.is_initialized() and dist.destroy_process_group())

    def test_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self.seen += list(zip(batch.dataset_name, batch.index.tolist()))

    def on_test_epoch_end(self) -> None:
        gathered: list = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, self.seen)
        if self.global_rank == 0:
            Path(self.out).write_text(json.dumps(gathered))


def test_every_sample_is_tested_once_across_two_ranks(tmp_path):
    root = make_synthetic_dataset(tmp_path / "data", classes=("grid_texture",), n_normal=4, n_anomalous=3)  # 7: odd
    data = AnomalyDataModule(test_sets=[{"name": "odd", "format": "mvtec", "root": str(root)}],
                             image_size=32, batch_size=2, num_workers=0)
    out = tmp_path / "seen.json"
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp_spawn", logger=False,
                        enable_progress_bar=False, enable_model_summary=False)

    trainer.test(IndexRecorder(str(out)), data)

    per_rank = [[tuple(pair) for pair in rank] for rank in json.loads(out.read_text())]
    assert per_rank == [[("odd", i) for i in (0, 2, 4, 6)], [("odd", i) for i in (1, 3, 5)]]
