"""The one base class for errors caused by the user's input.

The command line prints these as one line (no traceback) and exits with status 2; any other
exception is a bug and keeps its traceback.
"""


class InputError(ValueError):
    """Bad input: the message names the file, frame, key or setting that is wrong."""
