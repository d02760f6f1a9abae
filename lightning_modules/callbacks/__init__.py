"""Callbacks that write and log what the Tipsomaly module computed; the module itself writes no files."""

from .prompt_writer import PromptWriter
from .results_writer import ResultsWriter

__all__ = ["PromptWriter", "ResultsWriter"]
