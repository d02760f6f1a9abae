"""The TIPS image tower: timm's DINOv2-style ViT/14 with one register token.

Token order is [CLS, register, patches]. The class token carries no position embedding of its
own (timm's `no_embed_class`); the official CLS position embedding is folded into the CLS token
when a checkpoint is converted (see `checkpoint_conversion.py`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

# timm.utils.summary imports wandb (with pydantic and protobuf: ~1 s, most of timm's import) for timm's own
# training scripts, which we never call; hide it while timm loads, so a run without W&B never pays for it.
_HIDE_WANDB = "wandb" not in sys.modules
if _HIDE_WANDB:
    sys.modules["wandb"] = None  # `import wandb` raises ImportError, which timm catches
try:
    from timm.layers import SwiGLUPacked, resample_abs_pos_embed
    from timm.models.vision_transformer import Mlp, VisionTransformer
finally:
    if _HIDE_WANDB:
        del sys.modules["wandb"]

PATCH_SIZE = 14


@dataclass(frozen=True)
class VisionConfig:
    embed_dim: int
    depth: int
    num_heads: int
    mlp_hidden: int
    ffn_layer: str  # "mlp" (S/B/L/So400m) or "swiglu" (g)
    pos_grid: int  # side of the checkpoint's square position-embedding grid (16 or 32)
    # Fixed in the official release; a Hugging Face config.json states them (see hf_config.py).
    patch_size: int = PATCH_SIZE
    num_register_tokens: int = 1
    layer_norm_eps: float = 1e-6
    qkv_bias: bool = True


def _fixed_width_mlp(mlp_class, hidden: int):
    """An `mlp_layer` for timm's Block whose hidden width is `hidden` exactly.

    timm derives the hidden width as int(dim * mlp_ratio), which float rounding can miss by one
    (So400m's 4304, SwiGLU's packed 2 * hidden); the checkpoint's width is the truth.
    """

    def build(in_features, hidden_features=None, **kwargs):
        return mlp_class(in_features, hidden_features=hidden, **kwargs)

    return build


class TipsVisionTower(VisionTransformer):
    """ViT/14 returning the final-norm CLS token, register token and patch tokens.

    Position embeddings are resampled to the input's patch grid as the official TIPS model does
    (bilinear, antialias, by output size), once per grid size, and kept in a cache.
    """

    def __init__(self, config: VisionConfig, device=None):
        if config.ffn_layer == "swiglu":
            mlp_layer = _fixed_width_mlp(SwiGLUPacked, 2 * config.mlp_hidden)
        elif config.ffn_layer == "mlp":
            mlp_layer = _fixed_width_mlp(Mlp, config.mlp_hidden)
        else:
            raise ValueError(f"ffn_layer must be 'mlp' or 'swiglu', got {config.ffn_layer!r}")
        super().__init__(
            img_size=config.pos_grid * config.patch_size,
            patch_size=config.patch_size,
            num_classes=0,
            global_pool="",
            embed_dim=config.embed_dim,
            depth=config.depth,
            num_heads=config.num_heads,
            qkv_bias=config.qkv_bias,
            init_values=1.0,
            reg_tokens=config.num_register_tokens,
            no_embed_class=True,
            dynamic_img_size=True,
            mlp_layer=mlp_layer,
            norm_layer=partial(nn.LayerNorm, eps=config.layer_norm_eps),
            act_layer=nn.SiLU if config.ffn_layer == "swiglu" else nn.GELU,
            weight_init="skip",
            device=device,
        )
        self.config = config
        self._pos_embed_cache: dict[tuple, torch.Tensor] = {}

    def _load_from_state_dict(self, *args, **kwargs):
        self._pos_embed_cache.clear()  # new weights make every resampled grid stale
        super()._load_from_state_dict(*args, **kwargs)

    def _apply(self, fn, recurse=True):
        self._pos_embed_cache.clear()  # a move or cast (.to, .half) must not serve old tensors
        return super()._apply(fn, recurse)

    def resampled_pos_embed(self, grid: tuple[int, int]) -> torch.Tensor:
        """Patch position embeddings for a grid of (rows, cols) patches: [1, rows*cols, D]."""
        key = (grid, self.pos_embed.dtype, self.pos_embed.device)
        if key not in self._pos_embed_cache:
            with torch.no_grad():
                self._pos_embed_cache[key] = resample_abs_pos_embed(
                    self.pos_embed,
                    new_size=list(grid),
                    old_size=[self.config.pos_grid, self.config.pos_grid],
                    num_prefix_tokens=0,
                    interpolation="bilinear",
                    antialias=True,
                )
        return self._pos_embed_cache[key]

    def _pos_embed(self, x: torch.Tensor) -> torch.Tensor:
        batch, rows, cols, dim = x.shape  # patch_embed gives NHWC with dynamic_img_size
        x = x.reshape(batch, rows * cols, dim) + self.resampled_pos_embed((rows, cols))
        prefix = [self.cls_token.expand(batch, -1, -1), self.reg_token.expand(batch, -1, -1)]
        return torch.cat(prefix + [x], dim=1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """images: float [B, 3, H, W], H and W multiples of the patch size (14), values in [0, 1] (no mean/std).

        Returns (first, second, patches): [B, D], [B, D], [B, H*W/196, D], after the final
        LayerNorm and not L2-normalised. `first` is the CLS token, `second` the (first) register token.
        """
        tokens = self.forward_features(images)
        return tokens[:, 0], tokens[:, 1], tokens[:, 1 + self.config.num_register_tokens :]
