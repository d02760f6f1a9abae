"""Reads an offline W&B run back (the run-<id>.wandb record log), so tests can check what a run logged.

The file is a LevelDB-style log: a 7-byte W&B header, then 32 KiB blocks of records, each
[crc32 (4) | length (2, little endian) | type (1: full, 2: first, 3: middle, 4: last)] + payload,
every payload one `wandb_internal_pb2.Record`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from wandb.proto import wandb_internal_pb2

_BLOCK, _HEADER = 32768, 7


@dataclass
class OfflineRun:
    folder: Path
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    artifacts: list[tuple[str, str]] = field(default_factory=list)  # (name, type)


def _records(data: bytes):
    pos, pending = _HEADER, b""
    while pos + _HEADER <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _HEADER:
            pos += left
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        if length == 0 and kind == 0:  # zero padding up to the end of the block
            pos += left
            continue
        chunk, pos = data[pos + _HEADER : pos + _HEADER + length], pos + _HEADER + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            yield pending


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


def _parsed(log: Path) -> list:
    records = []
    for payload in _records(log.read_bytes()):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        records.append(record)
    return records


def read_offline_run(folder: str | Path, timeout: float = 30.0) -> OfflineRun:
    """folder: a ``wandb/offline-run-*`` folder. Waits (up to ``timeout`` s) for the run's exit record:
    wandb's service process may still be writing the last records after ``run.finish()`` returned."""
    folder = Path(folder)
    (log,) = folder.glob("run-*.wandb")
    deadline = time.monotonic() + timeout
    records = _parsed(log)
    while not any(r.WhichOneof("record_type") == "exit" for r in records) and time.monotonic() < deadline:
        time.sleep(0.1)
        records = _parsed(log)
    run = OfflineRun(folder)
    for record in records:
        kind = record.WhichOneof("record_type")
        if kind == "history":
            run.history.append({_key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "summary":
            run.summary.update({_key(i): json.loads(i.value_json) for i in record.summary.update})
        elif kind == "config":
            run.config.update({_key(i): json.loads(i.value_json) for i in record.config.update})
        elif kind == "artifact":
            run.artifacts.append((record.artifact.name, record.artifact.type))
    return run


def offline_runs(root: str | Path) -> list[Path]:
    """Every offline run folder under ``root``, oldest first."""
    return sorted(Path(root).rglob("offline-run-*"), key=lambda p: p.name)
