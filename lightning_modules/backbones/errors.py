"""The error for a backbone that cannot be used as given; one line naming the folder or value, what was expected and the fix."""

from lightning_modules.tips.errors import TipsCheckpointError


class BackboneError(TipsCheckpointError):
    """A backbone folder, hub id, config.json or input that cannot be used (a ValueError: the CLI prints one line)."""
