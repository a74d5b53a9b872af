"""The verbs of the command line, one module each, and the argument types they share."""

import argparse

SEED_MAX = 2**32 - 1


def seed(text: str) -> int:
    """An argparse type: a random seed, an integer from 0 to 2**32 - 1 (numpy's range)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{value} is outside 0 .. {SEED_MAX}")
    return value
