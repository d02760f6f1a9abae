"""Fixed prompts: hand-written state x template ensembles -> one normal and one abnormal text feature per class.

For a class's prompt words `c` (as the data names them, see `datamodules.class_names`), every state is filled
with `c` and every template with that phrase:
`template.format(state.format(c))`. Sentences are ordered state-major (all templates of the
first state, then all templates of the second, ...), the order in which the reference builds
them; the learnable prompts reuse the same sentences, so the order is part of the method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from .normalize import l2_normalize


@dataclass(frozen=True)
class PromptEnsemble:
    """Phrases for the two states, each with one `{}` for the class name, and sentence templates with one `{}` for the phrase."""

    normal_states: tuple[str, ...]
    abnormal_states: tuple[str, ...]
    templates: tuple[str, ...]


ENSEMBLES: dict[str, PromptEnsemble] = {
    # The default; the objects of MVTec AD, VisA and the other industrial sets.
    "industrial": PromptEnsemble(
        normal_states=(
            "{}",
            "flawless {}",
            "perfect {}",
            "unblemished {}",
            "{} without flaw",
            "{} without defect",
            "{} without damage",
        ),
        abnormal_states=("damaged {}", "broken {}", "{} with flaw", "{} with defect", "{} with damage"),
        templates=(
            "a bad photo of a {}.",
            "a low resolution photo of the {}.",
            "a bad photo of the {}.",
            "a cropped photo of the {}.",
        ),
    ),
    # Brain MRI / CT, skin, colon and thyroid images.
    "medical": PromptEnsemble(
        normal_states=(
            "normal {}",
            "intact {}",
            "{} with uniform structure",
            "{} showing clear tissue",
            "{} with normal anatomy",
            "{} showing no distortion",
            "{} with symmetric appearance",
            "{} looking normal",
            "{} with even texture",
            "{} with regular shape",
        ),
        abnormal_states=(
            "abnormal {}",
            "{} with spot",
            "{} with abnormality",
            "diseased {}",
            "{} showing distortion",
            "{} with irregular area",
            "{} with irregular shape",
            "{} with uneven texture",
        ),
        templates=(
            "a medical image of a {}.",
            "a medical image of the {}.",
            "a diagnostic scan of a {}.",
            "a diagnostic scan of the {}.",
            "a slice showing a {}.",
            "a slice showing the {}.",
            "a scan of the {}.",
            "a clinical brain scan of a {}.",
        ),
    ),
    # One bare sentence per state: "object" vs "damaged object".
    "object_agnostic": PromptEnsemble(normal_states=("{}",), abnormal_states=("damaged {}",), templates=("{}",)),
}


def resolve_ensemble(ensemble: str | PromptEnsemble) -> PromptEnsemble:
    """An ensemble given by name (a key of `ENSEMBLES`) or as itself."""
    if isinstance(ensemble, PromptEnsemble):
        return ensemble
    if ensemble not in ENSEMBLES:
        raise ValueError(f"fixed_prompts.py: unknown prompt ensemble {ensemble!r}; choose one of {sorted(ENSEMBLES)}")
    return ENSEMBLES[ensemble]


def prompt_sentences(ensemble: str | PromptEnsemble, class_name: str) -> tuple[list[str], list[str]]:
    """(normal sentences, abnormal sentences) for one class, each `len(states) * len(templates)` long, state-major.

    class_name: the prompt words exactly as the sentences say them ("metal nut"); the data decides them
    (`datamodules.class_names.prompt_class_name`, with the user's overrides), so nothing is rewritten here.
    """
    prompts = resolve_ensemble(ensemble)
    name = class_name

    def sentences(states: tuple[str, ...]) -> list[str]:
        return [template.format(state.format(name)) for state in states for template in prompts.templates]

    return sentences(prompts.normal_states), sentences(prompts.abnormal_states)


def ensemble_feature(embeddings: Tensor) -> Tensor:
    """Sentence embeddings `[n_sentences, D]` -> their ensemble `[D]`, unit length.

    Each sentence is normalised first (norm floored at 1e-3) so that every sentence weighs
    the same in the mean; the mean of unit vectors is shorter than 1 and is normalised again
    (floor 1e-12, i.e. plain division for any real mean, as in the reference).
    """
    if embeddings.dim() != 2 or embeddings.shape[0] == 0:
        raise ValueError(f"fixed_prompts.py: expected sentence embeddings [n_sentences, D] with n_sentences >= 1, got {tuple(embeddings.shape)}")
    return l2_normalize(l2_normalize(embeddings).mean(dim=0), eps=1e-12)


class FixedPromptFeatures:
    """Cache of fixed text features: class names -> `[B, 2, D]` float32 (index 0 normal, 1 abnormal).

    `encode_text` maps a list of sentences to their embeddings `[n, D]`. Each distinct class is
    encoded once, without gradients (the text tower is frozen and these features never train),
    and reused for every later batch.
    """

    def __init__(self, encode_text: Callable[[list[str]], Tensor], ensemble: str | PromptEnsemble = "industrial") -> None:
        self.encode_text = encode_text
        self.ensemble = resolve_ensemble(ensemble)
        self._cache: dict[tuple[PromptEnsemble, str], Tensor] = {}

    def class_feature(self, class_name: str) -> Tensor:
        """`[2, D]` float32 features of one class, encoded on first use."""
        key = (self.ensemble, class_name)
        if key not in self._cache:
            with torch.no_grad():
                # One encoder call per state, as the reference batches them.
                features = [ensemble_feature(self.encode_text(sentences).float()) for sentences in prompt_sentences(self.ensemble, class_name)]
            self._cache[key] = torch.stack(features, dim=0)
        return self._cache[key]

    def __call__(self, class_names: list[str]) -> Tensor:
        if len(class_names) == 0:
            raise ValueError("fixed_prompts.py: got no class names; pass one name per image of the batch")
        return torch.stack([self.class_feature(name) for name in class_names], dim=0)
