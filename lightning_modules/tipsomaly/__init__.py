"""The Tipsomaly method: decoupled fixed/learnable prompts and local-to-global scores over frozen TIPS."""

from .fixed_prompts import ENSEMBLES, FixedPromptFeatures, PromptEnsemble, prompt_sentences
from .learnable_prompts import LearnablePrompts
from .lightning_model import Tipsomaly
from .scorer import AnomalyScorer, ScorerOutput
from .step_output import EvaluationOutput
from .text_features import TextFeatureBank
from .prompt_checkpoint import PromptCheckpoint, load_prompt_checkpoint, save_prompt_checkpoint
from .torch_model import TipsomalyModel, TipsomalyOutput

__all__ = [
    "AnomalyScorer",
    "EvaluationOutput",
    "ScorerOutput",
    "TextFeatureBank",
    "ENSEMBLES",
    "FixedPromptFeatures",
    "LearnablePrompts",
    "PromptCheckpoint",
    "PromptEnsemble",
    "Tipsomaly",
    "TipsomalyModel",
    "TipsomalyOutput",
    "load_prompt_checkpoint",
    "prompt_sentences",
    "save_prompt_checkpoint",
]
