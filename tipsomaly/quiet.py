"""Silence the library messages that say nothing about this run; every other warning stays visible."""

from __future__ import annotations

import logging
import re
import warnings

# (message regex, category name) of warnings that are expected here:
HARMLESS_WARNINGS = (
    # the frozen TIPS towers are in eval mode on purpose: only the prompt vectors train
    (r"Found \d+ module\(s\) in eval mode at the start of training", "PossibleUserWarning"),
    # no val_sets: AnomalyDataModule.val_dataloader returns an empty list (test_sets are checked before the run)
    (r"Total length of `list` across ranks is zero", "Warning"),
    # Lightning's note that it logs to CSV without tensorboard, which is what we want
    (r"Starting from v1\.9\.0, `tensorboardX` has been removed", "Warning"),
    # a deprecation inside lightning's own copy of torch's pytree code (torch >= 2.10), nothing we call
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", "Warning"),
    # small sets have fewer batches per epoch than log_every_n_steps (50): the per-epoch loss is logged anyway
    # (Tipsomaly logs train/loss_epoch), so nothing is lost; a run that wants every step sets log_every_n_steps
    (r"The number of training batches \(\d+\) is smaller than the logging interval", "PossibleUserWarning"),
)
# Log lines that advertise a product instead of describing the run.
ADVERTISEMENTS = ("💡 Tip:",)


class _DropAdvertisements(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(ADVERTISEMENTS)


class _DropUncountedFlops(logging.Filter):
    """Lightning's model summary counts FLOPs only for a module with an `example_input_array`; without one it
    prints "0 Total Flops", which is not a measurement. The line goes; the rest of the summary stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "Total Flops" in message:
            record.msg = "\n".join(line for line in message.split("\n") if not re.fullmatch(r"\s*0\s+Total Flops\s*", line))
            record.args = ()
        return True


_FILTER = _DropAdvertisements()
_FLOPS = _DropUncountedFlops()


def silence_harmless_messages() -> None:
    """Install the filters (idempotent). Call after lightning is imported."""
    from lightning.fabric.utilities.warnings import PossibleUserWarning

    categories = {"PossibleUserWarning": PossibleUserWarning, "Warning": Warning}
    for message, category in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=categories[category])
    # LightningCLI calls jsonargparse APIs that jsonargparse 4.49 deprecated: Lightning's to update, not ours
    from jsonargparse._deprecated import JsonargparseDeprecationWarning

    warnings.filterwarnings("ignore", category=JsonargparseDeprecationWarning, module=r"lightning\.pytorch\.cli")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    summary = logging.getLogger("lightning.pytorch.callbacks.model_summary")
    if _FLOPS not in summary.filters:
        summary.addFilter(_FLOPS)


def silence_callback_state_notice() -> None:
    """For validate / test / predict: Lightning's advice to re-create the checkpoint's callbacks only matters
    when training resumes from it."""
    warnings.filterwarnings("ignore", message=r"Be aware that when using `ckpt_path`, callbacks used to create the checkpoint")


def silence_resume_notice() -> None:
    """For `fit --ckpt_path` into its own folder: the checkpoint folder is not empty because it holds the
    checkpoint being resumed from, whose `last.ckpt` this fit carries on."""
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
