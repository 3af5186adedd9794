"""Exceptions whose message is meant for the user: the CLI prints them as one line."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RecbenchError(Exception):
    """Base class for errors caused by input (options, files, names), not by a bug."""

    exit_code = 2


class UsageError(RecbenchError):
    """An option or parameter value that cannot be used."""


class DataError(RecbenchError):
    """A data file that is missing, empty, malformed or fails verification."""


class ModelDirError(RecbenchError):
    """A model directory that is missing, corrupt or was not written by recbench."""


class MissingExtraError(RecbenchError):
    """An algorithm whose optional dependencies are not installed."""


def suggest(name: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""
