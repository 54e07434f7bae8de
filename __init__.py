"""sedkit: controlled datasets and paper baselines for weakly-labelled sound event detection."""

__version__ = "0.1.0"


class SedkitError(Exception):
    """An error caused by the user's input. The CLI prints it as one line and exits with code 2.

    The message must say what was wrong and where (file, key, item).
    """


def first_line(e: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message for a one-line error (its type name when the message is empty)."""
    lines = str(e).strip().splitlines()
    return lines[0][:limit] if lines else type(e).__name__

