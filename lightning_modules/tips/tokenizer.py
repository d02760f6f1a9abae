"""The TIPS SentencePiece tokenizer, without TensorFlow."""

from __future__ import annotations

from pathlib import Path

import sentencepiece as spm
import torch

from .errors import TipsCheckpointError

MAX_LEN = 64
PAD_ID = 0


class TipsTokenizer:
    """Lower-cases, encodes without bos/eos, cuts or pads with id 0 to `max_len` tokens.

    Padding flags are per sentence (1 at padding), so a sentence's ids never depend on the
    other sentences of the batch.
    """

    def __init__(self, path: str | Path, max_len: int = MAX_LEN):
        path = Path(path)
        if not path.is_file():
            raise TipsCheckpointError(f"tokenizer file {path} does not exist; point `tokenizer` at the official TIPS `tokenizer.model`")
        try:
            self.processor = spm.SentencePieceProcessor(model_file=str(path))
        except (RuntimeError, OSError) as error:
            raise TipsCheckpointError(
                f"{path} is not a SentencePiece model ({error}); use the official TIPS `tokenizer.model`"
            ) from None
        if self.processor.pad_id() != PAD_ID:
            raise TipsCheckpointError(f"{path}: SentencePiece pad id is {self.processor.pad_id()}, TIPS expects {PAD_ID}; use the official TIPS `tokenizer.model`")
        self.path = path
        self.max_len = max_len

    def __getstate__(self) -> dict:
        # SentencePiece processors do not pickle; spawned workers (DDP spawn, DataLoader) reload the file.
        return {"path": self.path, "max_len": self.max_len}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"], state["max_len"])

    @property
    def vocab_size(self) -> int:
        return self.processor.get_piece_size()

    def __call__(self, sentences: list[str] | str) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (ids, paddings): long [B, max_len] each; paddings are 1 at padding, 0 elsewhere."""
        if isinstance(sentences, str):
            sentences = [sentences]
        encoded = self.processor.encode([s.lower() for s in sentences])
        ids = torch.full((len(sentences), self.max_len), PAD_ID, dtype=torch.long)
        paddings = torch.ones((len(sentences), self.max_len), dtype=torch.long)
        for row, tokens in enumerate(encoded):
            tokens = tokens[: self.max_len]
            ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
            paddings[row, : len(tokens)] = 0
        return ids, paddings
