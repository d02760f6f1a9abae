"""The one error type for bad TIPS files and inputs; messages name the file, the expectation and the fix."""


class TipsCheckpointError(ValueError):
    """A TIPS checkpoint, tokenizer or input that cannot be used as given."""
