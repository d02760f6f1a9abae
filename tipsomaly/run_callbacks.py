"""What the command hands to the Trainer's callbacks once they exist: the run folder, and the checkpoint rule.

The config saver is the one LightningCLI makes (`save_config_callback`): here it writes `config_<stage>.yaml`, so a
`test` into the folder of its `fit` keeps both configs, and W&B's `cli_config` is the stage that ran.
"""

from __future__ import annotations

from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import SaveConfigCallback

from datamodules.atomic_files import atomic_path, write_text_atomic
from lightning_modules.callbacks.run_folder import RunFolder, WritesToRunFolder


class StageConfig(WritesToRunFolder, SaveConfigCallback):
    """Writes the resolved config as `<run folder>/config_<stage>.yaml` (rank 0), whole or not at all."""

    def __init__(self, *args, **kwargs):
        kwargs.pop("save_to_log_dir", None)
        super().__init__(*args, save_to_log_dir=False, **kwargs)
        self.path = None

    def save_config(self, trainer, pl_module, stage: str) -> None:
        # `fn` is the entry point (validate, not the fit's inner validation)
        path = self.folder(trainer).config(getattr(trainer.state.fn, "value", stage))
        write_text_atomic(path, self.parser.dump(self.config, skip_none=False))
        self.path = path


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, through a temporary file renamed when whole: a full disk or a kill never
    leaves a truncated `last.ckpt`."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:  # noqa: ANN001
        with atomic_path(path) as temporary:
            super().save_checkpoint(checkpoint, temporary, storage_options)


def hand_run_folder(trainer, folder: RunFolder) -> None:  # noqa: ANN001
    """Give `folder` to every callback that writes or reads a run's files (they declare it by their base class)."""
    for callback in trainer.callbacks:
        if isinstance(callback, WritesToRunFolder):
            callback.run_folder = folder


def configure_checkpointing(trainer, folder: RunFolder, user_declared: bool) -> None:  # noqa: ANN001
    """`fit`: checkpoints go to `<run folder>/checkpoints`, written atomically. Lightning's own default callback (none
    declared by the user) keeps one checkpoint, `last.ckpt`, instead of `epoch=N-step=M.ckpt` beside an identical
    `last.ckpt`; a ModelCheckpoint the config declares keeps its settings (that is how to ask for more)."""
    for callback in trainer.checkpoint_callbacks:
        if callback.dirpath is None:
            callback.dirpath = str(folder.checkpoints)
        if not user_declared and isinstance(callback, ModelCheckpoint):
            # the newest epoch's checkpoint, under the name `last.ckpt`, replaced after every epoch (a Ctrl-C keeps
            # the last finished epoch). Lightning's save_last alone would write it only when training ends.
            callback.filename, callback.save_top_k, callback.save_last = "last", 1, False
    if trainer.checkpoint_callbacks and type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
        trainer.strategy.checkpoint_io = AtomicCheckpointIO()
