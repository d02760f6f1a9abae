"""Which backbone a `backbone` argument names, read from its files, and loading it: the one dispatcher.

`backbone` is a TipsSpec, a SiglipSpec, or their fields as a dict (what a config file holds):
- explicit TIPS paths, or an official TIPS name (`tips-v2-l14`) + `checkpoint_dir`: TIPS in the official `.npz` format;
- `checkpoint_dir` alone: a folder saved by transformers; its config.json `model_type` decides
  (`tipsv2` -> TIPS, `siglip` / `siglip2` -> SigLIP);
- `name` as a hub id (`google/siglip2-base-patch16-224`, `google/tipsv2-l14`): the snapshot in the local Hugging Face
  cache (downloaded only when allowed), then as a folder.
Every check here reads only small files (config.json), so a bad backbone is one line before any work.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from lightning_modules.hub import looks_like_hub_id, resolve_hub_snapshot
from lightning_modules.tips import TipsSpec

from .errors import BackboneError
from .protocol import TIPS_PATCH_SIZE
from .siglip import SIGLIP_MODEL_TYPES, SiglipBackbone, load_siglip, read_config

TIPS_MODEL_TYPES = ("tipsv2",)
TIPS_PATH_FIELDS = ("vision_checkpoint", "text_checkpoint", "tokenizer")


@dataclass
class SiglipSpec:
    """A SigLIP / SigLIP 2 model in the Hugging Face format: `checkpoint_dir` (a folder) or `name` (a hub id, at
    `revision`), not both."""

    checkpoint_dir: str | None = None
    name: str | None = None
    revision: str | None = None

    def __post_init__(self) -> None:
        if (self.checkpoint_dir is None) == (self.name is None):
            raise BackboneError(
                f"SiglipSpec needs exactly one of checkpoint_dir (a folder saved by transformers) and name (a hub id such "
                f"as google/siglip2-base-patch16-224); got checkpoint_dir={self.checkpoint_dir!r}, name={self.name!r}"
            )

    def folder(self) -> Path:
        return Path(self.checkpoint_dir) if self.checkpoint_dir is not None else resolve_hub_snapshot(self.name, self.revision)

    def load(self, dtype: torch.dtype | str = torch.float32, device: str | torch.device = "cpu") -> SiglipBackbone:
        from lightning_modules.tips.tips_model import resolve_device, resolve_dtype

        folder = self.folder()
        revision = self.revision or (folder.name if self.name is not None else None)  # a snapshot folder is named by its commit
        return load_siglip(folder, source=self.name or self.checkpoint_dir, revision=revision, dtype=resolve_dtype(dtype), device=resolve_device(device))

    @property
    def label(self) -> str:
        return str(self.name or self.checkpoint_dir).rstrip("/").rsplit("/", 1)[-1]


@dataclass
class BackboneSpec:
    """Any backbone as a config file names it (the fields of both kinds); `backbone_spec` turns it into the TipsSpec
    or SiglipSpec its files call for. One type for the command line, so that no kind's own checks run before the
    kind is known."""

    name: str | None = None
    checkpoint_dir: str | None = None
    revision: str | None = None
    vision_checkpoint: str | None = None
    text_checkpoint: str | None = None
    tokenizer: str | None = None
    vision_num_heads: int | None = None
    text_num_heads: int | None = None


def _fields(backbone) -> dict:
    """The backbone argument as plain fields (None values dropped)."""
    if dataclasses.is_dataclass(backbone) and not isinstance(backbone, type):
        fields = dataclasses.asdict(backbone)
    elif hasattr(backbone, "as_dict"):  # a jsonargparse Namespace
        fields = backbone.as_dict()
    elif isinstance(backbone, dict):
        fields = dict(backbone)
    else:
        raise BackboneError(f"backbone={backbone!r}: expected checkpoint_dir=FOLDER, name=<TIPS name or hub id>, or the TIPS file paths")
    return {key: value for key, value in fields.items() if value is not None}


def _model_type(folder: Path, where: str) -> str:
    model_type = read_config(folder).get("model_type")
    if model_type not in (*TIPS_MODEL_TYPES, *SIGLIP_MODEL_TYPES):
        raise BackboneError(
            f"{where}: config.json has model_type {model_type!r}, which is no backbone tipsomaly runs; expected one of "
            f"{', '.join((*TIPS_MODEL_TYPES, *SIGLIP_MODEL_TYPES))} (TIPS v2 or SigLIP / SigLIP 2 saved by transformers)"
        )
    return model_type


def _tips_spec(fields: dict) -> TipsSpec:
    accepted = {field.name for field in dataclasses.fields(TipsSpec)}
    extra = sorted(set(fields) - accepted)
    if extra:
        raise BackboneError(f"backbone {fields}: {', '.join(extra)} do not apply to a TIPS checkpoint; drop them")
    return TipsSpec(**fields)


def backbone_spec(backbone) -> TipsSpec | SiglipSpec:
    """The spec of the backbone this argument names, its kind read from the files (see the module docstring)."""
    fields = _fields(backbone)
    name, folder = fields.get("name"), fields.get("checkpoint_dir")
    if any(field in fields for field in TIPS_PATH_FIELDS) or fields.get("vision_num_heads") or fields.get("text_num_heads"):
        return _tips_spec(fields)
    if name is not None and looks_like_hub_id(str(name)):
        if folder is not None:
            raise BackboneError(f"backbone name={name!r} is a hub id and checkpoint_dir={folder!r} a folder; give one of them")
        model_type = _model_type(resolve_hub_snapshot(str(name), fields.get("revision")), f"hub id '{name}'")
    elif name is not None:  # an official TIPS name: its folder holds the .npz downloads, no config.json
        if folder is not None and (Path(folder) / "config.json").is_file():
            model_type = read_config(Path(folder)).get("model_type")
            if model_type in SIGLIP_MODEL_TYPES:
                raise BackboneError(
                    f"backbone name={name!r} is a TIPS checkpoint but '{folder}' holds a SigLIP model (config.json "
                    f"model_type {model_type!r}); drop name to load the SigLIP folder, or point checkpoint_dir at the TIPS downloads"
                )
        return _tips_spec(fields)
    elif folder is not None:
        model_type = _model_type(Path(folder), f"backbone folder '{folder}'")
    else:
        raise BackboneError("backbone names no checkpoint; give checkpoint_dir=FOLDER, name=<TIPS name or hub id>, or the three TIPS file paths")
    if model_type in SIGLIP_MODEL_TYPES:
        return SiglipSpec(checkpoint_dir=folder, name=name, revision=fields.get("revision"))
    return _tips_spec(fields)


def load_backbone(backbone, dtype: torch.dtype | str = torch.float32, device: str | torch.device = "cpu"):
    """Load the frozen backbone this argument names: a TipsModel or a SiglipBackbone (both speak protocol.py)."""
    return backbone_spec(backbone).load(dtype=dtype, device=device)


def backbone_patch_size(backbone) -> tuple[str, int]:
    """(label, patch size) of the named backbone from its config.json alone (no weights read): for checks before any work."""
    spec = backbone_spec(backbone)
    if isinstance(spec, SiglipSpec):
        return spec.label, int(read_config(spec.folder())["vision_config"].get("patch_size", 16))
    folder = spec.checkpoint_dir
    if spec.name is None and folder is not None and (Path(folder) / "config.json").is_file():
        config = read_config(Path(folder))
        return spec.label, int(config.get("vision_config", config).get("patch_size", TIPS_PATCH_SIZE))
    return spec.label, TIPS_PATCH_SIZE
