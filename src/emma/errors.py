"""One exception type for input the user can fix: the CLI prints its message as one line."""


class EmmaError(Exception):
    """A problem with the user's input or environment, with what to do about it in the message."""
