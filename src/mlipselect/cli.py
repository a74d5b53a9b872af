"""`mlipselect VERB ...`: one entry point, one module per verb in ``mlipselect.commands``.

Each verb module has a docstring (its help), ``configure(parser)`` that adds its arguments,
and ``run(args)``. Modules import heavy dependencies inside ``run`` so that ``--help`` is quick.
Every verb that writes gets ``--overwrite`` here (``WRITES = False`` in a module opts out);
a module's ``ON_INTERRUPT``, formatted with the arguments, says what an interrupted run
keeps.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
import threading

from mlipselect import __version__
from mlipselect.errors import InputError

VERBS = (
    "sample",
    "merge",
    "import",
    "export",
    "label",
    "split",
    "select",
    "coverage",
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
    parser.add_argument("--version", action="version", version=f"mlipselect {__version__}")
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
        if getattr(module, "WRITES", True):
            p.add_argument("--overwrite", action="store_true",
                           help="replace existing outputs (default: refuse to touch them)")
        p.set_defaults(run=module.run,
                       on_interrupt=getattr(module, "ON_INTERRUPT", "nothing was written"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with reliable_interrupts():
        try:
            return int(args.run(args) or 0)
        except (InputError, OSError) as err:
            print(f"mlipselect {args.verb}: error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            signal.setitimer(signal.ITIMER_REAL, 0)
            kept = args.on_interrupt.format(**vars(args))
            print(f"mlipselect {args.verb}: interrupted; {kept}", file=sys.stderr)
            return 130


@contextlib.contextmanager
def reliable_interrupts():
    """Ctrl-C raises KeyboardInterrupt, but one raised inside a finaliser is lost (h5py's
    weakref callbacks run all the time), and the command would go on as if nothing happened.
    So after Ctrl-C it is raised again every half second until the command stops."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt), signal.signal(signal.SIGALRM, interrupt)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGALRM, previous[1])


if __name__ == "__main__":
    sys.exit(main())
