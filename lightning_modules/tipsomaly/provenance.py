"""What produced a score, computed from the live model: backbone identity, input size and resize, the hash of
the prompt tensors that actually score, the prompt family and the scoring settings.

`model.provenance()` (on `TipsomalyModel` and `Tipsomaly`) returns this JSON-able dict; it is written beside
every result (tables, predictions, thresholds files, ONNX metadata, W&B config). Wherever two artifacts meet
(thresholds and a detector or a predict run, a prompt file and a backbone) the one `compare_provenance` says
how they differ. Hyper-parameters say what was asked; this says what runs.
"""

from __future__ import annotations

import hashlib
from importlib import metadata

import torch

from lightning_modules.backbones.protocol import identity_of



def tipsomaly_version() -> str:
    try:
        return metadata.version("tipsomaly")
    except metadata.PackageNotFoundError:
        return "0.1.0+source"


def tensors_sha256(tensors) -> str:
    """sha256 of float32 tensors' shapes and bytes, in order: the same prompts give the same hash wherever
    they were loaded from (a prompt file, a Lightning checkpoint, memory)."""
    digest = hashlib.sha256()
    for tensor in tensors:
        data = tensor.detach().to("cpu", torch.float32).contiguous()
        digest.update(f"{tuple(data.shape)}|".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def prompt_tensors(prompts) -> list:
    """The learnable prompt tensors in a fixed order: normal, abnormal, then each deep-prompt set."""
    return [prompts.normal, prompts.abnormal, *(list(prompts.deep) if prompts.deep is not None else [])]


def model_provenance(model, image_size: int | None = None) -> dict:
    """The provenance of a `TipsomalyModel` as it scores now (see the module docstring)."""
    settings = model.settings
    learned = model.uses_learned_prompts
    size = image_size or settings.image_size
    return {
        "backbone": identity_of(model.tips),
        "image_size": [int(size), int(size)] if size else None,
        "resize": settings.resize,
        # untrained prompts never score (fixed prompts do everything): such a model is a fixed-prompt model
        "prompt_hash": tensors_sha256(prompt_tensors(model.prompts)) if learned else None,
        "prompt_method": settings.prompt_method if learned else "none",
        "n_prompt": int(settings.n_prompt) if learned else 0,
        "n_deep": int(settings.n_deep) if learned else 0,
        "fixed_prompts": settings.fixed_prompts,
        "scoring": settings.scoring(),
        "few_shot": None,  # the plain model scores zero-shot; `Tipsomaly` and `Detector` add their memory banks
        "tipsomaly_version": tipsomaly_version(),
    }


# Keys that describe, not decide: a moved checkpoint folder or a newer tipsomaly scores the same.
INFORMATIONAL = {"tipsomaly_version", "backbone.source", "backbone.revision", "backbone.label"}


def _flatten(value, prefix: str = "") -> dict:
    if isinstance(value, dict):
        flat = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: list(value) if isinstance(value, tuple) else value}


def _label(provenance: dict) -> str:
    backbone = provenance.get("backbone") or {}
    return backbone.get("label", "?") if isinstance(backbone, dict) else str(backbone)


def compare_provenance(expected: dict, actual: dict) -> list[str]:
    """Human-readable differences that change scores between two provenance dicts (empty: the same model).

    expected: what an artifact (thresholds, an ONNX file) was made with; actual: what scores now.
    """
    want, have = _flatten(expected), _flatten(actual)
    differences = []
    for key in sorted(set(want) | set(have)):
        if key in INFORMATIONAL:
            continue
        a, b = want.get(key), have.get(key)
        if a == b:
            continue
        if key == "prompt_hash":
            a = "fixed prompts only" if a is None else f"learned prompts {a[:12]}"
            b = "fixed prompts only" if b is None else f"learned prompts {b[:12]}"
        elif key == "backbone.fingerprint":
            key, a, b = "backbone", f"{_label(expected)} ({str(a)[:12]})", f"{_label(actual)} ({str(b)[:12]})"
        differences.append(f"{key}: {a!r} there, {b!r} here")
    return differences
