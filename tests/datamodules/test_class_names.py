"""Prompt class names, pinned per dataset as the reference words them."""

from __future__ import annotations

import pytest

from datamodules.class_names import prompt_class_name


@pytest.mark.parametrize(
    ("format", "class_name", "prompt"),
    [
        ("mvtec", "metal_nut", "metal nut"),
        ("mvtec", "bracket_black", "bracket black"),  # MPDD in the MVTec layout
        ("mvtec", "SDD", "electrical commutators"),  # KolektorSDD's MVTec-style copy
        ("visa", "pcb1", "pcb1"),
        ("visa", "pipe_fryum", "pipe fryum"),
        ("btad", "01", "01"),
        ("ksdd", "electrical commutators", "electrical commutators"),
        ("dagm", "Class7", "Class7"),
        ("brainmri", "brain_mri", "brain mri"),
        ("colondb", "colon", "colon"),
        ("folder", "my_part", "my part"),  # unpinned names follow the same underscore rule
    ],
)
def test_pinned_prompt_class_names(format, class_name, prompt):
    assert prompt_class_name(format, class_name) == prompt


def test_overrides_win():
    assert prompt_class_name("visa", "pcb1", {"pcb1": "printed circuit board"}) == "printed circuit board"
    assert prompt_class_name("visa", "pcb2", {"pcb1": "printed circuit board"}) == "pcb2"
