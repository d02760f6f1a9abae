"""Hugging Face hub ids -> a local snapshot folder: the local cache first, a download only when allowed.

Tests and offline machines never download: with `HF_HUB_OFFLINE=1` (or `allow_download=False`) a repository that is
not in the cache is one error naming the repository, the cache folder and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path


def looks_like_hub_id(name: str) -> bool:
    """`owner/name` with no path that exists on disk: `google/tipsv2-l14`, `google/siglip2-base-patch16-224`."""
    return isinstance(name, str) and name.count("/") == 1 and not name.startswith((".", "/", "~")) and not Path(name).exists()


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def resolve_hub_snapshot(repo_id: str, revision: str | None = None, allow_download: bool | None = None) -> Path:
    """The local folder of `repo_id` at `revision` (default: the cached main), downloading it only when allowed.

    `allow_download=None` means: download when online (`HF_HUB_OFFLINE` unset), as huggingface_hub does.
    """
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.constants import HF_HUB_CACHE
    except ImportError as error:  # pragma: no cover - huggingface_hub comes with the dependencies
        raise FileNotFoundError(f"hub id '{repo_id}': huggingface_hub is not installed; pip install huggingface_hub, or give checkpoint_dir=FOLDER") from error
    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except Exception as cached_error:  # not in the cache (LocalEntryNotFoundError and friends)
        may_download = (not _offline()) if allow_download is None else (allow_download and not _offline())
        if not may_download:
            raise FileNotFoundError(
                f"hub id '{repo_id}'{f' (revision {revision})' if revision else ''} is not in the local Hugging Face cache "
                f"{HF_HUB_CACHE} and downloads are off (HF_HUB_OFFLINE=1 or allow_download=False); download it once on a "
                f"machine online (huggingface-cli download {repo_id}) into that cache, or give checkpoint_dir=FOLDER"
            ) from cached_error
    try:
        return Path(snapshot_download(repo_id, revision=revision))
    except Exception as error:
        raise FileNotFoundError(
            f"hub id '{repo_id}' could not be downloaded into {HF_HUB_CACHE}: {' '.join(str(error).split())[:300]}; "
            f"check the id and the network, or set HF_HUB_OFFLINE=1 and give checkpoint_dir=FOLDER"
        ) from error
