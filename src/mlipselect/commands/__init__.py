"""The verbs of the command line, one module each, and the argument types and flags they
share."""

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


def _parser_of(option):
    """``option``'s command-line reader: its own type, and argparse's message on a bad one."""
    from mlipselect.errors import InputError

    def read(text: str):
        try:
            return option.parse(text)
        except InputError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    read.__name__ = option.name
    return read


def add_option_flags(p, methods: dict) -> None:
    """One flag per option name any of ``methods`` declares, typed and with choices as the
    option declares them, its help listing each method's default; read back by
    :func:`given_options`."""
    options: dict[str, tuple] = {}
    for name, method in methods.items():
        for option in method.options:
            options.setdefault(option.name, (option, []))[1].append((name, option.default))
    for option, defaults in options.values():
        flag = "--" + option.name.replace("_", "-")
        listed = ", ".join(f"{name} {'auto' if value is None else value}"
                           for name, value in defaults)
        # no method's default (models to score with): nothing to list
        known = any(value is not None for _, value in defaults)
        what = option.doc + (f" (default: {listed})" if known else "")
        if option.type is bool:
            p.add_argument(flag, dest=f"option_{option.name}", default=None,
                           action=argparse.BooleanOptionalAction, help=what)
        else:
            choices = option.choices or None
            p.add_argument(flag, dest=f"option_{option.name}", default=None,
                           type=_parser_of(option), choices=choices,
                           metavar="{" + ",".join(choices) + "}" if choices else "X", help=what)


def given_options(args) -> dict:
    """The method options given on the command line (:func:`add_option_flags`)."""
    return {key[len("option_"):]: value for key, value in vars(args).items()
            if key.startswith("option_") and value is not None}
