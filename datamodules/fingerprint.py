"""Identities for cache keys and provenance: content fingerprints of input tensors and of weight files, and files by
path, size and modification time."""

from __future__ import annotations

import hashlib
import os

import torch


def image_fingerprint(image: torch.Tensor) -> str:
    """A content hash of one input tensor (any shape and dtype): equal bytes, equal fingerprint.

    Covers everything preprocessing did (resize mode and size, flips, any transform), since it
    hashes the result. About 3 ms for a 518 px float32 image; computed in the data-loading
    workers, off the model's path.
    """
    data = image.detach().cpu().contiguous()
    digest = hashlib.blake2b(f"{tuple(data.shape)}|{data.dtype}".encode(), digest_size=20)
    digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())  # raw bytes, any dtype (bf16 too)
    return digest.hexdigest()


def file_identity(path: str | os.PathLike) -> str:
    """`<absolute path>:<size>:<modification time ns>`: a changed or replaced file gets another identity."""
    stat = os.stat(path)
    return f"{os.path.abspath(path)}:{stat.st_size}:{stat.st_mtime_ns}"


WEIGHTS_SAMPLE_BYTES = 1 << 20  # per file end: a fingerprint that survives a copy, without reading a gigabyte


def weights_fingerprint(paths) -> str:
    """sha256 over each file's size and its first and last MiB, in the order given: equal for a copied or moved
    file (so thresholds and prompt files travel with the weights), different for another checkpoint (whose
    sizes or tensors differ). A few MiB read per backbone, once per loaded model."""
    digest = hashlib.sha256()
    for path in paths:
        size = os.path.getsize(path)
        digest.update(f"{size}|".encode())
        with open(path, "rb") as f:
            digest.update(f.read(WEIGHTS_SAMPLE_BYTES))
            if size > WEIGHTS_SAMPLE_BYTES:
                f.seek(max(WEIGHTS_SAMPLE_BYTES, size - WEIGHTS_SAMPLE_BYTES))
                digest.update(f.read(WEIGHTS_SAMPLE_BYTES))
    return digest.hexdigest()
