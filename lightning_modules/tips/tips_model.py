"""A frozen TIPS model: image tower, text tower, tokenizer and softmax temperature."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


from lightning_modules.image_contract import check_image_batch, check_value_range

from .checkpoint_conversion import (
    convert_vision_arrays,
    split_text_arrays,
    text_config_from_arrays,
    vision_config_from_arrays,
)
from lightning_modules.hub import looks_like_hub_id, resolve_hub_snapshot

from .checkpoint_files import TipsFiles, check_keys, check_naming, read_npz, resolve_files
from .errors import TipsCheckpointError
from .presets import check_head_count
from .text_tower import TipsTextTower, length_groups
from .tokenizer import TipsTokenizer
from .vision_tower import TipsVisionTower


class TipsModel(nn.Module):
    """Frozen TIPS: no parameter takes gradients and the towers stay in eval mode."""

    def __init__(
        self,
        vision: TipsVisionTower,
        text: TipsTextTower,
        tokenizer: TipsTokenizer,
        temperature: float,
        temperature_key: str = "temperature",
        files: TipsFiles | None = None,
    ):
        super().__init__()
        self.vision = vision
        self.text = text
        self.tokenizer = tokenizer
        self.temperature = temperature
        self.temperature_key = temperature_key  # which key of the text file held it (v1 vs v2)
        self.files = files
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "TipsModel":
        # A frozen backbone never switches to training behaviour, even inside a training loop.
        return super().train(False)

    @property
    def text_width(self) -> int:
        return self.text.width

    @property
    def embed_dim(self) -> int:
        return self.vision.config.embed_dim

    @property
    def patch_size(self) -> int:
        """The image tower's patch side in pixels (14 for every TIPS release): image sizes must be multiples of it."""
        return self.vision.config.patch_size

    def identity(self) -> dict:
        """Which weights these are, for provenance and caches: {kind, label, source, revision, fingerprint}.

        source: the hub id, or the files; fingerprint: the content fingerprint of the files this model was loaded
        from (sizes and first and last MiB, `datamodules.fingerprint.weights_fingerprint`), read once per model:
        a copied or moved checkpoint keeps it, another checkpoint gets another.
        """
        files = self.files
        if files is None:
            return {"kind": "tips", "label": "in-memory", "source": None, "revision": None, "fingerprint": None}
        if getattr(self, "_fingerprint", None) is None:
            from datamodules.fingerprint import weights_fingerprint  # here: `datamodules` imports Lightning

            self._fingerprint = weights_fingerprint(files.paths)[:16]
        return {
            "kind": "tips",
            "label": files.label or Path(files.vision).name,
            "source": files.hub_id or ", ".join(str(Path(p).resolve()) for p in files.paths),
            "revision": files.revision,
            "fingerprint": self._fingerprint,
        }

    def encode_image(self, images: torch.Tensor, check_range: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """images: float [B, 3, H, W] in [0, 1], H and W multiples of the patch size (14).

        Returns (first, second, patches): [B, D], [B, D], [B, H*W/196, D], not L2-normalised.
        check_range: read the values' range first (a device sync); a training or test loop over our
        datasets, whose images are in [0, 1] by construction, turns it off.
        """
        check_image_batch(images, "encode_image", TipsCheckpointError, check_range=False)  # one contract (image_contract.py)
        height, width = images.shape[-2:]
        patch = self.patch_size
        if height % patch or width % patch:
            fit = lambda n: max(patch, round(n / patch) * patch)  # noqa: E731
            raise TipsCheckpointError(
                f"image size {height}x{width} is not a multiple of the patch size {patch}; "
                f"resize to e.g. {fit(height)}x{fit(width)} (224, 448 and 518 are common)"
            )
        if check_range:
            check_value_range(images, "encode_image", TipsCheckpointError)
        images = images.to(self.vision.cls_token.dtype)
        chunk = cpu_chunk_size(images, patch)
        if chunk >= images.shape[0]:
            return self.vision(images)
        parts = [self.vision(part) for part in images.split(chunk)]
        return tuple(torch.cat(outputs) for outputs in zip(*parts))

    def encode_text(self, sentences: list[str] | str) -> torch.Tensor:
        """Sentences -> [B, D] text embeddings, not L2-normalised."""
        listed = [sentences] if isinstance(sentences, str) else sentences
        if not isinstance(listed, (list, tuple)) or not listed or not all(isinstance(s, str) for s in listed):
            raise TipsCheckpointError(
                f"sentences must be a string or a non-empty list of strings, got {sentences!r:.80}"
            )
        ids, paddings = self.tokenizer(sentences)
        device = self.text.token_embedding.weight.device
        groups = length_groups(paddings)  # counted on the host, before the move: no device sync
        length = max(n for _, n in groups)
        on_device = tuple((rows.to(device), n) for rows, n in groups)
        return self.text(ids[:, :length].to(device), paddings[:, :length].to(device), groups=on_device)


# On a CPU the image tower runs a batch a few images at a time, about this many tokens in all: the activations of a
# larger batch outgrow the caches. Measured (S/14, float32, 2-core AVX-512): batch 8 at 518 px in chunks of 2
# x1.16 (bf16 x1.17; outputs bit-equal), S at 224 px in chunks of 8 x1.08, L/14 at 518 px in chunks of 2 x1.04
# (benchmarks/backbone.py times it).
CPU_TOKENS_PER_CHUNK = 2800


def cpu_chunk_size(images: torch.Tensor, patch_size: int) -> int:
    """How many images the image tower runs at once: all of them on an accelerator, a few on a CPU (see above).
    Exact up to float rounding: every image's tokens attend only to their own image."""
    if images.device.type != "cpu":
        return max(images.shape[0], 1)
    tokens = (images.shape[-2] // patch_size) * (images.shape[-1] // patch_size) + 2
    return max(CPU_TOKENS_PER_CHUNK // tokens, 1)


def load_tower_state(module: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    check_keys(path, set(module.state_dict().keys()), set(state.keys()))
    try:
        module.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as error:
        error = " ".join(str(error).split())[:400]
        raise TipsCheckpointError(f"{path}: weights do not fit the tower their shapes describe ({error}); re-download the file") from None


# The dtypes the frozen towers can run in, by torch dtype and by the names a config file holds.
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "float64": torch.float64,
}


def resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """A floating torch dtype from a dtype or its name ("bfloat16"), or a one-line error."""
    resolved = DTYPES.get(dtype.removeprefix("torch.")) if isinstance(dtype, str) else dtype
    if resolved not in DTYPES.values():
        raise TipsCheckpointError(
            f"dtype={dtype!r}: the TIPS towers run in {', '.join(DTYPES)}; for mixed precision keep float32 weights "
            "and set the Trainer's precision (e.g. bf16-mixed)"
        )
    return resolved


def resolve_device(device: str | torch.device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise TipsCheckpointError(f"device={device!r} is not a torch device ({error}); use e.g. 'cpu' or 'cuda:0'") from None


def load_tips(
    vision_checkpoint: str | Path | None = None,
    text_checkpoint: str | Path | None = None,
    tokenizer: str | Path | None = None,
    vision_num_heads: int | None = None,
    text_num_heads: int | None = None,
    name: str | None = None,
    checkpoint_dir: str | Path | None = None,
    dtype: torch.dtype | str = torch.float32,
    device: str | torch.device = "cpu",
    revision: str | None = None,
) -> TipsModel:
    """Load a frozen TIPS model, named one of four exclusive ways:

    - official `.npz` files: `name` (e.g. `tips-v2-l14`) + `checkpoint_dir` (the download folder), or the three
      explicit paths `vision_checkpoint`, `text_checkpoint`, `tokenizer`;
    - a Hugging Face folder (config.json, model.safetensors, tokenizer.model): `checkpoint_dir` alone;
    - a Hugging Face hub id: `name='google/tipsv2-l14'` (and optional `revision`), from the local hub cache,
      downloaded only when allowed (see `lightning_modules/hub.py`: `HF_HUB_OFFLINE=1` never downloads).

    Tower sizes come from the tensor shapes; official head counts from the presets unless given (a given count
    must agree with the preset of that width), a Hugging Face folder's from its config.json. Every file and size
    is checked before any tower is built: the two towers must have the same width, since image and text
    embeddings are compared by cosine similarity.
    """
    dtype, device = resolve_dtype(dtype), resolve_device(device)
    check_head_count("vision_num_heads", vision_num_heads)
    check_head_count("text_num_heads", text_num_heads)
    check_naming(vision_checkpoint, text_checkpoint, tokenizer, name, checkpoint_dir)
    hub_id = name if name is not None and looks_like_hub_id(name) else None
    if revision is not None and hub_id is None:
        raise TipsCheckpointError(f"revision={revision!r} is only read with a hub id as name (e.g. name='google/tipsv2-l14'); drop revision")
    if hub_id is not None or (name is None and checkpoint_dir is not None):
        from .hf_loading import load_hf_tips  # it builds on this module

        folder = resolve_hub_snapshot(hub_id, revision) if hub_id is not None else checkpoint_dir
        model = load_hf_tips(folder, hub_id, vision_num_heads, text_num_heads)
        return model.to(device=device, dtype=dtype)
    files = resolve_files(vision_checkpoint, text_checkpoint, tokenizer, name, checkpoint_dir)
    tips_tokenizer = TipsTokenizer(files.tokenizer)

    # Both files are read before either tower is built; their tensors become the towers' weights without a copy
    # (`assign=True`), so this holds no more memory than reading them one after the other.
    vision_arrays = read_npz(files.vision, "vision")
    text_arrays = read_npz(files.text, "text")
    vision_config = vision_config_from_arrays(vision_arrays, str(files.vision), vision_num_heads)
    text_config = text_config_from_arrays(text_arrays, str(files.text), text_num_heads)
    if vision_config.embed_dim != text_config.width:
        raise TipsCheckpointError(
            f"{files.vision} is {vision_config.embed_dim} wide but {files.text} is {text_config.width} wide; the two "
            "towers of one TIPS checkpoint share an embedding width. Fix: give the vision and text files of the same "
            "release (`<stem>_vision.npz` with `<stem>_text.npz`)"
        )
    if tips_tokenizer.vocab_size > text_config.vocab_size:
        raise TipsCheckpointError(
            f"{files.tokenizer} has {tips_tokenizer.vocab_size} pieces but {files.text} embeds only "
            f"{text_config.vocab_size}; use the tokenizer released with this checkpoint"
        )
    text_state, temperature, temperature_key = split_text_arrays(text_arrays, str(files.text))
    del text_arrays

    with torch.device("meta"):  # no random init of weights that are loaded right after
        vision = TipsVisionTower(vision_config)
    load_tower_state(vision, convert_vision_arrays(vision_arrays), files.vision)
    del vision_arrays
    with torch.device("meta"):
        text = TipsTextTower(text_config)
    load_tower_state(text, text_state, files.text)

    model = TipsModel(vision, text, tips_tokenizer, temperature, temperature_key, files)
    return model.to(device=device, dtype=dtype)
