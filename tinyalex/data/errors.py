"""The one exception of tinyalex.data that says the data, not the caller, is at fault."""

from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """A dataset file that cannot be used: corrupt, truncated, failing its checksum, unsafe.

    A ``ValueError``, so ``except ValueError`` still catches it; its own class lets the command
    line report a failed run (exit code 1) rather than bad arguments (exit code 2).
    """
