"""The one exception type users see: a one-line message naming the culprit."""


class LmlearnError(Exception):
    """A user-facing error: the CLI prints its message on one line, without a traceback."""
