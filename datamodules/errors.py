"""The one error type of the data package.

Every problem with a dataset on disk (missing folder, unpaired mask, mask of the wrong size, unreadable file,
inconsistent label file) raises `DatasetLayoutError`. Its message names the file or folder, what was expected
there and how to fix it, so a user can act on it without reading our code.
"""

from __future__ import annotations


class DatasetLayoutError(ValueError):
    """A dataset folder does not match the layout its reader expects, or one of its files is unusable."""
