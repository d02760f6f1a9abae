"""SigLIP / SigLIP 2 in the Hugging Face format as a Tipsomaly backbone, as the reference's `siglip2-hf` path runs it.

The towers are transformers' own classes (`SiglipModel`, `Siglip2Model`); only the glue is ours:
- images arrive in [0, 1] and are normalised here with the processor's mean and std (0.5 for SigLIP);
- both "global tokens" are the vision tower's pooled (attention-pooling head) output, the patch tokens its
  `last_hidden_state`;
- text is tokenised padded to the tower's 64 positions and encoded with NO attention mask (SigLIP was trained so,
  padding included); the pooled text feature is the final-LayerNorm state at the last position, through the head;
- learnable prompts enter the token embeddings before the position embeddings (`insert_prompt_embeddings`: concat
  prepends and cuts back to 64, sumate adds to the first P, entire_learnable replaces);
- scores are per-prompt sigmoids, sigmoid(cos * exp(logit_scale) + logit_bias).

transformers is imported only here, and only when a SigLIP folder is loaded.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor, nn

from lightning_modules.tips.text_tower import insert_prompt_embeddings

from .errors import BackboneError
from .protocol import ScoringRule, check_image_size, files_fingerprint

SIGLIP_MODEL_TYPES = ("siglip", "siglip2")
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "spiece.model", "tokenizer.model")
DEFAULT_MEAN_STD = (0.5, 0.5)
VALUE_TOLERANCE = 0.01  # a resize's overshoot; 0-255 or already-normalised images lie far outside


def _import_transformers():
    try:
        import transformers
    except ImportError:
        raise BackboneError(
            "a SigLIP backbone needs transformers, which is not installed; pip install -e '.[siglip]' "
            "(or pip install 'transformers>=5.0')"
        ) from None
    transformers.logging.set_verbosity_error()  # its load reports and progress bars are not ours to print
    transformers.logging.disable_progress_bar()
    return transformers


class SiglipTokenizer:
    """Sentences -> (ids, paddings), each long [B, max_len]; padded to max_len as SigLIP was trained.

    paddings are all 0: SigLIP's text tower attends to every position, padding included, so no position is masked.
    """

    def __init__(self, tokenizer, max_len: int, path: Path):
        self.tokenizer = tokenizer
        self.max_len = max_len
        self.path = path

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def __call__(self, sentences: list[str] | str) -> tuple[Tensor, Tensor]:
        listed = [sentences] if isinstance(sentences, str) else list(sentences)
        encoded = self.tokenizer(listed, padding="max_length", max_length=self.max_len, truncation=True, return_tensors="pt")
        ids = encoded["input_ids"].long()
        return ids, torch.zeros_like(ids)


class SiglipTextTower(nn.Module):
    """transformers' SigLIP text model with learnable prompts in its token embeddings: [B, L] ids -> [B, D]."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model  # SiglipTextModel / Siglip2TextModel

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.model.embeddings.token_embedding

    @property
    def width(self) -> int:
        return self.model.config.hidden_size

    def encode_embeddings(self, embeddings: Tensor) -> Tensor:
        """Token embeddings [B, L, D] (prompts already placed) -> pooled text features [B, D_out].

        Position embeddings are added here, after the prompts; no attention mask, as SigLIP runs.
        """
        hidden = self.model.embeddings(inputs_embeds=embeddings)
        hidden = self.model.encoder(inputs_embeds=hidden, attention_mask=None).last_hidden_state
        hidden = self.model.final_layer_norm(hidden)
        return self.model.head(hidden[:, -1])

    def forward(
        self,
        ids: Tensor,
        paddings: Tensor,
        prompts: Tensor | None = None,
        prompt_method: str = "concat",
        deep_prompts: Sequence[Tensor] | None = None,
    ) -> Tensor:
        """ids, paddings [B, L]; prompts [P, D] or [B, P, D] placed by `prompt_method` (see insert_prompt_embeddings)."""
        if deep_prompts:
            raise BackboneError("deep prompts (n_deep, d_deep) are not supported on a SigLIP backbone; set n_deep=0 and d_deep=0")
        embeddings = self.token_embedding(ids)
        if prompts is not None:
            embeddings, _ = insert_prompt_embeddings(embeddings, paddings, prompts, prompt_method)
        return self.encode_embeddings(embeddings)


class SiglipVisionTower(nn.Module):
    """transformers' SigLIP image tower on [0, 1] images: (pooled, pooled, patches), raw.

    `naflex` (SigLIP 2's `siglip2` model type) takes flattened patches with their grid; the fixed-resolution kind takes
    pixels and interpolates its position embeddings to sizes other than its own.
    """

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float], naflex: bool):
        super().__init__()
        self.model = model
        self.naflex = naflex
        self.patch_size = int(model.config.patch_size)
        self.native_size = int(getattr(model.config, "image_size", 0) or 0)
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def _naflex_inputs(self, pixels: Tensor) -> dict:
        batch, channels, height, width = pixels.shape
        rows, cols, p = height // self.patch_size, width // self.patch_size, self.patch_size
        # (row, col) patches, each flattened (py, px, channel) as the SigLIP 2 processor lays them out
        patches = pixels.reshape(batch, channels, rows, p, cols, p).permute(0, 2, 4, 3, 5, 1).reshape(batch, rows * cols, -1)
        return {
            "pixel_values": patches,
            "pixel_attention_mask": torch.ones(batch, rows * cols, dtype=torch.long, device=pixels.device),
            "spatial_shapes": torch.tensor([[rows, cols]] * batch, dtype=torch.long, device=pixels.device),
        }

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """images [B, 3, H, W] in [0, 1] -> pooled [B, D], pooled [B, D], patches [B, H*W/p^2, D]."""
        weights = self.model.embeddings.patch_embedding.weight.dtype
        pixels = ((images.float() - self.mean.float()) / self.std.float()).to(weights)
        if self.naflex:
            out = self.model(**self._naflex_inputs(pixels))
        else:
            resize = tuple(images.shape[-2:]) != (self.native_size, self.native_size)
            out = self.model(pixel_values=pixels, interpolate_pos_encoding=resize)
        return out.pooler_output, out.pooler_output, out.last_hidden_state


class SiglipBackbone(nn.Module):
    """A frozen SigLIP / SigLIP 2 model behind the backbone protocol (see protocol.py)."""

    kind = "siglip"

    def __init__(
        self,
        vision: SiglipVisionTower,
        text: SiglipTextTower,
        tokenizer: SiglipTokenizer,
        scoring_rule: ScoringRule,
        label: str,
        source: str,
        revision: str | None,
        files: list[Path],
    ):
        super().__init__()
        self.vision = vision
        self.text = text
        self.tokenizer = tokenizer
        self.scoring_rule = scoring_rule
        self.label = label
        self.source = source
        self.revision = revision
        self.files = files
        self._fingerprint = files_fingerprint(files)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "SiglipBackbone":
        return super().train(False)  # frozen: never training behaviour, even inside a training loop

    @property
    def patch_size(self) -> int:
        return self.vision.patch_size

    @property
    def text_width(self) -> int:
        return self.text.width

    def identity(self) -> dict:
        return {"kind": self.kind, "label": self.label, "source": self.source, "revision": self.revision, "fingerprint": self._fingerprint}

    def encode_image(self, images: Tensor, check_range: bool = True) -> tuple[Tensor, Tensor, Tensor]:
        """images: float [B, 3, H, W] in [0, 1], H and W multiples of `patch_size`. Returns (first, second, patches),
        not L2-normalised; first and second are both the pooled output."""
        if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] != 3 or not images.is_floating_point():
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise BackboneError(f"images must be a float tensor [B, 3, H, W] in [0, 1], got {shape}")
        check_image_size(self.label, self.patch_size, *images.shape[-2:])
        if check_range and images.numel():
            low, high = (float(v) for v in torch.aminmax(images.detach().float()))
            if math.isnan(low) or low < -VALUE_TOLERANCE or high > 1 + VALUE_TOLERANCE:
                raise BackboneError(
                    f"image values span [{low:.3g}, {high:.3g}], expected [0, 1]; the backbone normalises with its own "
                    "mean and std, so pass unnormalised images (0-255 images divided by 255)"
                )
        return self.vision(images)

    def exportable_image_tower(self, image_size: int) -> nn.Module:
        """The image tower for ONNX export at S = image_size: images [B, 3, S, S] in [0, 1] -> (first, second, patches)."""
        return ExportableSiglipImageTower(self.vision, image_size)

    def encode_text(self, sentences: list[str] | str) -> Tensor:
        """Sentences -> [B, D] pooled text features, not L2-normalised."""
        listed = [sentences] if isinstance(sentences, str) else sentences
        if not isinstance(listed, (list, tuple)) or not listed or not all(isinstance(s, str) for s in listed):
            raise BackboneError(f"sentences must be a string or a non-empty list of strings, got {sentences!r:.80}")
        ids, paddings = self.tokenizer(list(listed))
        return self.text(ids.to(self.text.token_embedding.weight.device), paddings)


def read_config(folder: Path) -> dict:
    """config.json of a Hugging Face model folder, or a one-line error naming the folder and the fix."""
    path = Path(folder) / "config.json"
    if not Path(folder).is_dir():
        raise BackboneError(f"backbone folder '{folder}' does not exist; give checkpoint_dir=<a folder saved by transformers> or a hub id as name")
    if not path.is_file():
        raise BackboneError(
            f"'{folder}' has no config.json, so its backbone kind is unknown; give a folder saved by transformers "
            "(config.json, model.safetensors, tokenizer), or name=<an official TIPS name> for the official .npz files"
        )
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise BackboneError(f"{path} is not readable JSON ({error}); re-download the model folder") from None
    if not isinstance(config, dict):
        raise BackboneError(f"{path} holds {type(config).__name__}, expected a JSON object with model_type; re-download the model folder")
    return config


def _one_of(folder: Path, names: Sequence[str], what: str) -> Path:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise BackboneError(f"SigLIP folder '{folder}' has no {what} ({' or '.join(names)}); re-download it (e.g. huggingface-cli download <hub id>)")


def _mean_std(folder: Path) -> tuple[list[float], list[float]]:
    for name in PROCESSOR_FILES:
        path = folder / name
        if path.is_file():
            config = json.loads(path.read_text())
            config = config.get("image_processor", config)
            if config.get("do_normalize", True) is False:
                return [0.0] * 3, [1.0] * 3
            mean, std = config.get("image_mean", [DEFAULT_MEAN_STD[0]] * 3), config.get("image_std", [DEFAULT_MEAN_STD[1]] * 3)
            return [float(v) for v in mean], [float(v) for v in std]
    return [DEFAULT_MEAN_STD[0]] * 3, [DEFAULT_MEAN_STD[1]] * 3


def load_siglip(
    folder: str | Path,
    source: str | None = None,
    revision: str | None = None,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> SiglipBackbone:
    """A frozen SigLIP / SigLIP 2 backbone from a folder saved by transformers (a hub snapshot or `save_pretrained`).

    source: what the user named (hub id or folder) for provenance; revision: the hub revision, when known.
    Every file is checked before transformers is imported.
    """
    folder = Path(folder)
    config = read_config(folder)
    model_type = config.get("model_type")
    if model_type not in SIGLIP_MODEL_TYPES:
        raise BackboneError(f"{folder}/config.json has model_type {model_type!r}; a SigLIP backbone has one of {', '.join(SIGLIP_MODEL_TYPES)}")
    weights = _one_of(folder, WEIGHT_FILES, "weights")
    tokenizer_file = _one_of(folder, TOKENIZER_FILES, "tokenizer")
    transformers = _import_transformers()
    model_class = transformers.SiglipModel if model_type == "siglip" else transformers.Siglip2Model
    try:
        model = model_class.from_pretrained(str(folder), dtype=torch.float32)
        hf_tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    except Exception as error:  # transformers, tokenizers and safetensors each raise their own kinds for a bad file
        raise BackboneError(f"SigLIP folder '{folder}' does not load with transformers ({' '.join(str(error).split())[:300]}); re-download it") from None
    text_config = model.config.text_config
    if len(hf_tokenizer) > text_config.vocab_size:
        raise BackboneError(f"{tokenizer_file} has {len(hf_tokenizer)} tokens but the text tower embeds {text_config.vocab_size}; use the tokenizer saved with this model")
    mean, std = _mean_std(folder)
    vision = SiglipVisionTower(model.vision_model, mean, std, naflex=model_type == "siglip2")
    text = SiglipTextTower(model.text_model)
    tokenizer = SiglipTokenizer(hf_tokenizer, int(text_config.max_position_embeddings), tokenizer_file)
    rule = ScoringRule("sigmoid", logit_scale=float(model.logit_scale.detach().float()), logit_bias=float(model.logit_bias.detach().float()))
    files = [folder / "config.json", weights, tokenizer_file]
    label = (source or folder.name).rstrip("/").rsplit("/", 1)[-1]
    backbone = SiglipBackbone(vision, text, tokenizer, rule, label, source or str(folder.resolve()), revision, files)
    return backbone.to(device=device, dtype=dtype)


class ExportableSiglipImageTower(nn.Module):
    """The SigLIP image tower at one input size for ONNX: explicit ("eager") attention, float32, same outputs."""

    def __init__(self, vision: SiglipVisionTower, image_size: int):
        super().__init__()
        check_image_size("SigLIP export", vision.patch_size, image_size, image_size)
        import copy

        self.vision = copy.deepcopy(vision).float().eval()
        self.vision.model.set_attn_implementation("eager")  # a fused kernel some ONNX runtimes lack
        self.eval()

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.vision(images)
