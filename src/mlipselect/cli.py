"""`mlipselect VERB ...`: one entry point, one module per verb in ``mlipselect.commands``.

Each verb module has a docstring (its help), ``configure(parser)`` that adds its arguments,
and ``run(args)``. Modules import heavy dependencies inside ``run`` so that ``--help`` is quick.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from mlipselect.errors import InputError

VERBS = (
    "sample",
    "merge",
    "import",
    "export",
    "label",
    "split",
    "select",
    "train",
    "evaluate",
    "md",
    "rdf",
    "report",
    "reproduce",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlipselect",
        description="Select training configurations for machine-learned interatomic potentials, "
        "and benchmark the selection on BMHTF NaCl.",
    )
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in VERBS:
        module = importlib.import_module(f"mlipselect.commands.{verb.replace('-', '_')}_cmd")
        doc = (module.__doc__ or "").strip()
        p = sub.add_parser(
            verb,
            help=doc.splitlines()[0] if doc else None,
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (InputError, OSError) as err:
        print(f"mlipselect {args.verb}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mlipselect {args.verb}: interrupted; finished work is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
