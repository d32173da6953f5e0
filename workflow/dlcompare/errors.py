"""User-facing errors: the CLI prints them as one line and exits 2, never as a traceback."""


class UserError(Exception):
    """A mistake the user can fix (bad parameter, missing file, missing credential)."""
