"""Run several Lightning jobs on two CPU processes (gloo) with one spawn.

Lightning's own `ddp_spawn` starts new processes for every `Trainer` call, each paying the
import and start-up cost. Here two processes are started once with the environment a launcher
like torchrun would set; each process then runs as many Trainers as the test needs
(`strategy="ddp"` finds the processes already there and reuses the process group).
"""

from __future__ import annotations

import atexit
import os
import socket

import torch.distributed as dist
import torch.multiprocessing as mp

WORLD_SIZE = 2


def _close_process_group() -> None:
    # Lightning leaves the gloo group alive at exit, where torch may abort ("terminate called
    # without an active exception"); close it while the interpreter lives. Belongs to whoever
    # launches processes (the tests, the command line), not to model code.
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _entry(rank: int, port: int, job, args) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(WORLD_SIZE), RANK=str(rank), LOCAL_RANK=str(rank), NODE_RANK="0"
    )
    atexit.register(_close_process_group)
    job(*args)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_on_two_processes(job, *args) -> None:
    """Call `job(*args)` in each of two processes; `job` builds Trainers with accelerator="cpu", devices=2, strategy="ddp"."""
    mp.spawn(_entry, args=(_free_port(), job, args), nprocs=WORLD_SIZE, join=True)
