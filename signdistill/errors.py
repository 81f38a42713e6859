"""User-facing errors: one readable paragraph, no traceback."""

from __future__ import annotations


class SignDistillError(ValueError):
    """A problem with the user's input (a file, a field, a value) that the user can fix.

    The CLI prints the message and exits with code 2. The message names the file, line
    or field, what was found, and how to fix it.
    """


class DataError(SignDistillError):
    """A manifest, corpus or feature file that cannot be used."""


class ConfigError(SignDistillError):
    """A configuration file or override that does not validate."""


class CheckpointError(SignDistillError):
    """A checkpoint folder that is missing, incomplete or incompatible."""
