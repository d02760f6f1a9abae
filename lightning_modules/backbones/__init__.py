"""Backbones behind one small protocol (protocol.py): TIPS (lightning_modules.tips) and SigLIP / SigLIP 2 in the Hugging
Face format (siglip.py); `load_backbone` picks one from the files a `backbone` argument names."""

from .errors import BackboneError
from .loading import BackboneSpec, SiglipSpec, backbone_patch_size, backbone_spec, load_backbone
from .protocol import Backbone, ScoringRule, identity_key, identity_of, patch_size_of, scoring_rule_of

__all__ = [
    "Backbone",
    "BackboneError",
    "BackboneSpec",
    "ScoringRule",
    "SiglipSpec",
    "backbone_patch_size",
    "backbone_spec",
    "identity_key",
    "identity_of",
    "load_backbone",
    "patch_size_of",
    "scoring_rule_of",
]
