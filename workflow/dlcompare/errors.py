"""User-facing errors: the CLI prints them as one line and exits 2, never as a traceback."""

import os


class UserError(Exception):
    """A mistake the user can fix (bad parameter, missing file, missing credential)."""


def printable(path: str | os.PathLike) -> str:
    """``path`` as UTF-8 text for messages and reports: bytes of a file name that are not UTF-8
    (kept by Python as surrogate escapes, which cannot be written out) shown as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")
