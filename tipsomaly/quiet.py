"""Silence the library messages that say nothing about this run; every other warning stays visible."""

from __future__ import annotations

import logging
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
)
# Log lines that advertise a product instead of describing the run.
ADVERTISEMENTS = ("💡 Tip:",)


class _DropAdvertisements(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(ADVERTISEMENTS)


_FILTER = _DropAdvertisements()


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


def silence_callback_state_notice() -> None:
    """For validate / test / predict: Lightning's advice to re-create the checkpoint's callbacks only matters
    when training resumes from it."""
    warnings.filterwarnings("ignore", message=r"Be aware that when using `ckpt_path`, callbacks used to create the checkpoint")



def quiet_callback():
    """A callback that installs the same filters in every process at setup (spawned DDP workers start with
    fresh warning filters)."""
    from tipsomaly.quiet_processes import QuietProcesses

    return QuietProcesses()
