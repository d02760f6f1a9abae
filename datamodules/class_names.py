"""Prompt class names: the words that fill `{}` in the prompt templates ("a photo of a {}.").

The reference builds them from its meta.json class names as `cls_name.replace('_', ' ')`, so `metal_nut`
becomes "metal nut" and VisA's `pcb1` stays "pcb1". We pin the same words per dataset, keyed by the class
names our readers produce, so a run prompts with the same words whichever layout the data came from.
The one deviation: KolektorSDD is "electrical commutators" (the reference's own dataset description) in every
layout, where a meta.json run of the reference would have prompted with its folder name "SDD".
Class names not pinned here (users' own data) follow the same underscore rule; `DatasetSpec.class_names`
overrides any of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

_MVTEC = ("bottle", "cable", "capsule", "carpet", "grid", "hazelnut", "leather", "metal_nut", "pill", "screw",
          "tile", "toothbrush", "transistor", "wood", "zipper")
_MPDD = ("bracket_black", "bracket_brown", "bracket_white", "connector", "metal_plate", "tubes")
_DTD = ("Blotchy_099", "Fibrous_183", "Marbled_078", "Matted_069", "Mesh_114", "Perforated_037", "Stratified_154",
        "Woven_001", "Woven_068", "Woven_104", "Woven_125", "Woven_127")
_VISA = ("candle", "capsules", "cashew", "chewinggum", "fryum", "macaroni1", "macaroni2", "pcb1", "pcb2", "pcb3",
         "pcb4", "pipe_fryum")
_KSDD = {"electrical commutators": "electrical commutators", "SDD": "electrical commutators"}


def _underscores_to_spaces(names: tuple[str, ...]) -> dict[str, str]:
    return {name: name.replace("_", " ") for name in names}


# format -> {reader class name -> prompt class name}
PROMPT_CLASS_NAMES: dict[str, dict[str, str]] = {
    # MVTec-style sets: MVTec AD, MPDD, DTD-Synthetic, and AdaCLIP's MVTec-style copies of KSDD (class "SDD")
    "mvtec": {**_underscores_to_spaces(_MVTEC + _MPDD + _DTD), **_KSDD},
    "visa": _underscores_to_spaces(_VISA),  # "pipe_fryum" -> "pipe fryum"; "pcb1", "macaroni1" stay
    "btad": {"01": "01", "02": "02", "03": "03"},  # the reference prompts with the product numbers
    "ksdd": dict(_KSDD),
    "dagm": {f"Class{i}": f"Class{i}" for i in range(1, 11)},
    "headct": {"headct": "headct"},
    "brainmri": {"brain_mri": "brain mri"},
    "br35h": {"br35h": "br35h"},
    "isic": {"isic": "isic"},
    "colondb": {"colon": "colon"},
    "clinicdb": {"ClinicDB": "ClinicDB"},
    "tn3k": {"tn3k": "tn3k"},
    "meta_json": dict(_KSDD),
    "folder": {},
}


def prompt_class_name(format: str, class_name: str, overrides: Optional[Mapping[str, str]] = None) -> str:
    """The prompt word(s) for `class_name` of a dataset in layout `format`.

    >>> prompt_class_name("mvtec", "metal_nut")
    'metal nut'
    >>> prompt_class_name("visa", "pcb1", {"pcb1": "printed circuit board"})
    'printed circuit board'
    """
    if overrides and class_name in overrides:
        return overrides[class_name]
    return PROMPT_CLASS_NAMES.get(format, {}).get(class_name, class_name.replace("_", " "))
