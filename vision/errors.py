"""The one family of errors the digit benchmark reports to the user as a single line (exit code 2)."""

from __future__ import annotations


class BenchmarkError(Exception):
    """A problem the user can fix (bad data, bad flag, unwritable folder).

    The message is one readable line naming the file or flag and the problem; the CLI prints it
    to stderr as ``digit-benchmark: error: <message>`` and exits with status 2.
    """


class DataError(BenchmarkError):
    """MNIST could not be read, downloaded or verified."""


class UsageError(BenchmarkError):
    """A command-line flag or output location is invalid."""
