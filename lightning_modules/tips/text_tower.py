"""The TIPS text tower: pre-LayerNorm transformer, sinusoidal positions, mean pooling.

Parameter names equal the official `*_text.npz` keys, so a text checkpoint loads as it is.
Attention is fused (`scaled_dot_product_attention`) with a key-padding mask.

Learnable prompts enter through `insert_prompt_embeddings`: vectors placed before (`concat`),
added to (`sumate`) or instead of (`entire_learnable`) the scaled token embeddings, and deep
prompts prepended to the inputs of chosen layers.

Every batch runs at the length of its sentences after the prompts are placed, not the tokenizer's 64: padding
never changes a feature (see `TipsTextTower.encode_embeddings`), so its work is skipped. A batch of sentences of
different lengths runs in up to `MAX_LENGTH_GROUPS` groups, each at its own longest sentence (`length_groups`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

PROMPT_METHODS = ("concat", "sumate", "entire_learnable")


@dataclass(frozen=True)
class TextConfig:
    width: int
    num_layers: int
    num_heads: int
    mlp_dim: int
    vocab_size: int
    # Fixed in the official release; a Hugging Face config.json states them (see hf_config.py).
    layer_norm_eps: float = 1e-5
    pooling_epsilon: float = 1e-8
    scale_sqrt_depth: bool = True


def sinusoidal_positions(length: int, width: int) -> torch.Tensor:
    """[1, length, width] float32 position signal: sin half then cos half, timescales 1..10,000."""
    num_timescales = width // 2
    # float32 throughout, as the official encoder computes it
    log_increment = torch.log(torch.tensor(10_000.0)) / torch.tensor(float(max(num_timescales - 1, 1)))
    inv_timescales = torch.exp(torch.arange(num_timescales, dtype=torch.float32) * -log_increment)
    scaled_time = torch.arange(length, dtype=torch.float32)[None, :, None] * inv_timescales[None, None, :]
    signal = torch.cat([torch.sin(scaled_time), torch.cos(scaled_time)], dim=2)
    return F.pad(signal, (0, width % 2))


def row_lengths(paddings: torch.Tensor) -> torch.Tensor:
    """[B] long: 1 + the last non-padding position of each sentence (at least 1). paddings: [B, L], 1 at padding."""
    positions = torch.arange(1, paddings.shape[1] + 1, device=paddings.device)
    return ((paddings == 0) * positions).amax(dim=1).clamp(min=1) if paddings.shape[1] else paddings.new_ones(len(paddings))


def kept_length_of(paddings: torch.Tensor) -> int:
    """1 + the last non-padding position of any sentence in the batch (at least 1): where padding may be cut.

    paddings: [B, L], 1 at padding. A host sync when the tensor lives on a GPU.
    """
    return int(row_lengths(paddings).max()) if len(paddings) else 1


# A text batch runs in at most this many groups of sentences, each at its own length (see length_groups): the
# ensembles' templates differ in length by up to 2x, so one cut to the longest still runs ~1.5x the tokens.
MAX_LENGTH_GROUPS = 4
LengthGroups = tuple[tuple[torch.Tensor, int], ...]  # (rows of the batch, the length they run at), per group


def fewest_token_split(sorted_lengths: Sequence[int], max_groups: int = MAX_LENGTH_GROUPS) -> list[int]:
    """End indices of the runs into which ascending `sorted_lengths` are split, at most `max_groups` runs, so that
    the tokens run in all, sum(run size x run's last length), are the fewest; a tie goes to fewer runs."""
    n, inf = len(sorted_lengths), float("inf")
    if n == 0:
        return []
    tokens, ends = [0.0] + [inf] * n, [[]] + [None] * n  # the first i sentences in exactly g runs (g = 0 here)
    best_tokens, best_ends = inf, []
    for _ in range(max_groups):
        next_tokens, next_ends = [inf] * (n + 1), [None] * (n + 1)
        for i in range(1, n + 1):
            for j in range(i):
                candidate = tokens[j] + (i - j) * sorted_lengths[i - 1]
                if candidate < next_tokens[i]:
                    next_tokens[i], next_ends[i] = candidate, ends[j] + [i]
        if next_tokens[n] < best_tokens:
            best_tokens, best_ends = next_tokens[n], next_ends[n]
        tokens, ends = next_tokens, next_ends
    return best_ends


def length_groups(paddings: torch.Tensor, max_groups: int = MAX_LENGTH_GROUPS) -> LengthGroups:
    """The batch's sentences in at most `max_groups` groups, each to run at its own longest sentence.

    The groups are runs of the sentences in length order, split where the fewest tokens run in all
    (`fewest_token_split`). Exact, like the cut to the longest sentence: a sentence's feature does not depend on the
    other sentences of its batch. The row indices live on the device of `paddings`; reading the lengths is a host
    sync when that is a GPU (callers remember the groups per token tensor, or count them on the host).
    """
    lengths = row_lengths(paddings).tolist()
    order = sorted(range(len(lengths)), key=lambda row: lengths[row])
    groups, start = [], 0
    for end in fewest_token_split([lengths[row] for row in order], max_groups):
        groups.append((torch.tensor(order[start:end], device=paddings.device), lengths[order[end - 1]]))
        start = end
    return tuple(groups)


# token tensors whose length groups a text tower remembers (each fixed-prompt ensemble and learned-prompt batch is one)
MAX_REMEMBERED_LENGTHS = 64


def insert_prompt_embeddings(
    tokens: torch.Tensor, paddings: torch.Tensor, prompts: torch.Tensor, method: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Place learnable prompt vectors among scaled token embeddings; the length stays L.

    tokens: [B, L, D] scaled token embeddings; paddings: [B, L], 1 at padding;
    prompts: [P, D] (shared) or [B, P, D] (per sentence).
    - `concat`: prompts before the tokens, counted as non-padding, cut back to L.
    - `sumate`: prompts added to the first P token embeddings (padding flags unchanged).
    - `entire_learnable`: the sequence is the P prompts followed by padding.
    Returns (embeddings [B, L, D], paddings [B, L]).
    """
    batch, length, _ = tokens.shape
    if prompts.dim() == 2:
        prompts = prompts.unsqueeze(0).expand(batch, -1, -1)
    prompts = prompts.to(tokens.dtype)
    n_prompt = prompts.shape[1]
    if n_prompt > length:
        raise ValueError(f"{n_prompt} prompt vectors do not fit in a text of {length} tokens")
    prompt_pads = paddings.new_zeros(batch, n_prompt)
    if method == "concat":
        return torch.cat([prompts, tokens], dim=1)[:, :length], torch.cat([prompt_pads, paddings], dim=1)[:, :length]
    if method == "sumate":
        return tokens + F.pad(prompts, (0, 0, 0, length - n_prompt)), paddings
    if method == "entire_learnable":
        embeddings = F.pad(prompts, (0, 0, 0, length - n_prompt))
        return embeddings, torch.cat([prompt_pads, paddings.new_ones(batch, length - n_prompt)], dim=1)
    raise ValueError(f"prompt method must be one of {', '.join(PROMPT_METHODS)}, got {method!r}")


class MaskedSelfAttention(nn.Module):
    """Multi-head self-attention whose keys at padding positions are ignored.

    Same parameters as `nn.MultiheadAttention` (packed `in_proj_weight`, `out_proj`).
    """

    def __init__(self, width: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)  # as nn.MultiheadAttention; checkpoints overwrite it
        nn.init.zeros_(self.in_proj_bias)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """x: [B, L, D]; keep: bool [B, L], True where a token takes part."""
        batch, length, width = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        qkv = qkv.view(batch, length, 3, self.num_heads, width // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=keep[:, None, None, :])
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, width))


class MaskedMlp(nn.Module):
    """ReLU MLP whose hidden and output are zeroed at padding positions."""

    def __init__(self, width: int, mlp_dim: int):
        super().__init__()
        self.c_fc = nn.Linear(width, mlp_dim)
        self.c_proj = nn.Linear(mlp_dim, width)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        keep = keep.unsqueeze(-1).to(x.dtype)
        return self.c_proj(F.relu(self.c_fc(x)) * keep) * keep


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, num_heads: int, mlp_dim: int, layer_norm_eps: float = 1e-5):
        super().__init__()
        self.attn = MaskedSelfAttention(width, num_heads)
        self.ln_1 = nn.LayerNorm(width, eps=layer_norm_eps)
        self.mlp = MaskedMlp(width, mlp_dim)
        self.ln_2 = nn.LayerNorm(width, eps=layer_norm_eps)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), keep)
        return x + self.mlp(self.ln_2(x), keep)


class Transformer(nn.Module):
    def __init__(self, config: TextConfig):
        super().__init__()
        self.width = config.width
        self.resblocks = nn.ModuleList(
            ResidualAttentionBlock(config.width, config.num_heads, config.mlp_dim, config.layer_norm_eps)
            for _ in range(config.num_layers)
        )

    def forward(
        self, x: torch.Tensor, keep: torch.Tensor, deep_prompts: Sequence[torch.Tensor] | None = None, deep_start: int = 1
    ) -> torch.Tensor:
        """x: [B, L, D]; keep: bool [B, L]. deep_prompts[i] ([n_deep, D]) is prepended to the input
        of layer deep_start + i, taking part like a real token, and dropped after that layer."""
        deep_prompts = list(deep_prompts or [])
        if deep_start + len(deep_prompts) > len(self.resblocks):
            raise ValueError(f"{len(deep_prompts)} deep prompt layers from layer {deep_start} exceed the {len(self.resblocks)} layers")
        for index, block in enumerate(self.resblocks):
            layer_prompt = deep_prompts[index - deep_start] if 0 <= index - deep_start < len(deep_prompts) else None
            if layer_prompt is None:
                x = block(x, keep)
                continue
            n_deep = layer_prompt.shape[0]
            extended = torch.cat([layer_prompt.to(x.dtype).unsqueeze(0).expand(x.shape[0], -1, -1), x], dim=1)
            extended_keep = torch.cat([keep.new_ones(keep.shape[0], n_deep), keep], dim=1)
            x = block(extended, extended_keep)[:, n_deep:]
        return x


class TipsTextTower(nn.Module):
    """Token ids -> one embedding per sentence, [B, D], not L2-normalised."""

    def __init__(self, config: TextConfig):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.width)
        self.transformer = Transformer(config)
        self.ln_final = nn.LayerNorm(config.width, eps=config.layer_norm_eps)
        self._positions: dict[tuple, torch.Tensor] = {}
        self._groups: dict[tuple, tuple[torch.Tensor, LengthGroups]] = {}  # see _remembered_groups

    @property
    def width(self) -> int:
        return self.config.width

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """ids: long [B, L] -> token embeddings scaled by sqrt(width), [B, L, D]."""
        return self.token_embedding(ids) * (self.config.width**0.5 if self.config.scale_sqrt_depth else 1.0)

    def positions(self, length: int, like: torch.Tensor) -> torch.Tensor:
        key = (length, like.device, like.dtype)
        if key not in self._positions:
            self._positions[key] = sinusoidal_positions(length, self.config.width).to(device=like.device, dtype=like.dtype)
        return self._positions[key]

    def encode_embeddings(
        self,
        embeddings: torch.Tensor,
        paddings: torch.Tensor,
        deep_prompts: Sequence[torch.Tensor] | None = None,
        kept_length: int | None = None,
        groups: LengthGroups | None = None,
    ) -> torch.Tensor:
        """embeddings: [B, L, D] (scaled tokens, possibly with prompts); paddings: [B, L], 1 at padding.

        Cuts the batch to its longest sentence (`kept_length_of(paddings)`, or the caller's own count of it), adds
        positions, runs the transformer, the final LayerNorm and the mean over non-padding tokens. With `groups`
        (`length_groups`), each group of rows runs so, at its own length, and the features return in row order.
        The cut is exact: positions are absolute and padding is masked out of attention, MLP and pooling, so every
        feature equals the full-length computation (to float rounding, ~1e-7); it only skips the padding's work.
        """
        if groups is not None and len(groups) > 1:
            features = [self._encode_cut(embeddings[rows, :length], paddings[rows, :length], deep_prompts)
                        for rows, length in groups]
            order = torch.cat([rows for rows, _ in groups])
            return torch.cat(features).index_select(0, torch.argsort(order))
        if groups:  # one group: every sentence, at the longest one's length
            kept_length = groups[0][1]
        length = kept_length_of(paddings) if kept_length is None else kept_length
        return self._encode_cut(embeddings[:, :length], paddings[:, :length], deep_prompts)

    def _encode_cut(
        self, embeddings: torch.Tensor, paddings: torch.Tensor, deep_prompts: Sequence[torch.Tensor] | None
    ) -> torch.Tensor:
        x = embeddings + self.positions(embeddings.shape[1], embeddings)
        keep = paddings == 0
        x = self.ln_final(self.transformer(x, keep, deep_prompts))
        keep_f = keep.unsqueeze(-1).to(x.dtype)
        return (x * keep_f).sum(dim=1) / (keep_f.sum(dim=1) + self.config.pooling_epsilon)

    def forward(
        self,
        ids: torch.Tensor,
        paddings: torch.Tensor,
        prompts: torch.Tensor | None = None,
        prompt_method: str = "concat",
        deep_prompts: Sequence[torch.Tensor] | None = None,
        kept_length: int | None = None,
        groups: LengthGroups | None = None,
    ) -> torch.Tensor:
        """ids, paddings: [B, L]; optional prompts [P, D] or [B, P, D] (see `insert_prompt_embeddings`).

        The sentences run in groups of similar length, each cut to its longest sentence after the prompts are
        placed (see `encode_embeddings`). groups: those groups when the caller has counted them on the host
        (`length_groups`); kept_length: one length for the whole batch instead (e.g. 64: no cut).
        """
        x = self.embed_tokens(ids)
        placed = paddings
        if prompts is not None:
            x, placed = insert_prompt_embeddings(x, paddings, prompts, prompt_method)
        if groups is None and kept_length is None:
            groups = self._remembered_groups(paddings, placed, None if prompts is None else (prompt_method, prompts.shape[-2]))
        return self.encode_embeddings(x, placed, deep_prompts, kept_length=kept_length, groups=groups)

    def _remembered_groups(self, paddings: torch.Tensor, placed: torch.Tensor, prompt_key: tuple | None) -> LengthGroups:
        """The length groups of `placed`, remembered per input `paddings` tensor.

        Reading lengths from a GPU tensor waits for the device; learned prompts encode the same token tensor at
        every training step, so the wait happens once. The entry holds the tensor itself: its id cannot be reused
        by another tensor while remembered, and its version counter tells an in-place change. Tensors made under
        `torch.inference_mode` have no version counter: their groups are counted every time.
        """
        if paddings.is_inference():
            return length_groups(placed)
        key = (id(paddings), paddings._version, prompt_key)
        entry = self._groups.get(key)
        if entry is None or entry[0] is not paddings:
            entry = (paddings, length_groups(placed))
            if len(self._groups) >= MAX_REMEMBERED_LENGTHS:
                self._groups.pop(next(iter(self._groups)))
            self._groups[key] = entry
        return entry[1]

    def _apply(self, fn, recurse=True):
        self._positions.clear()
        self._groups.clear()
        return super()._apply(fn, recurse)
