"""`mlipselect VERB ...`: one entry point, one module per verb in ``mlipselect.commands``.

Each verb module has a docstring (its help), ``configure(parser)`` that adds its arguments,
and ``run(args)``. Modules import heavy dependencies inside ``run`` so that ``--help`` is quick.
The options every verb takes the same way are added here: ``--overwrite`` for every verb that
writes (``WRITES = False`` in a module opts out); ``--profile`` (alias ``--config``) where the
module's ``PROFILE`` says how (``"required"``, ``"optional"``: the package's defaults when
absent, or the name of a default profile); ``--quiet`` (alias ``--no-progress``, as
``args.progress``) where ``PROGRESS = True``. A module's ``ON_INTERRUPT``, formatted with the
arguments, says what an interrupted run keeps.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading

from mlipselect import __version__
from mlipselect.errors import InputError
from mlipselect.io import abandon_writes, release_all

VERBS = (
    "sample",
    "merge",
    "import",
    "export",
    "label",
    "split",
    "select",
    "learn",
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
        profile = getattr(module, "PROFILE", None)
        if profile is not None:
            default = None if profile in ("required", "optional") else profile
            p.add_argument("--profile", "--config", dest="profile", default=default,
                           required=profile == "required",
                           help="profile whose settings the command uses: smoke, quick, "
                                "active, xtb, paper or a profile YAML"
                                + {"required": "", "optional": " (default: the package's "
                                   "defaults)"}.get(profile, f" (default: {profile})"))
        if getattr(module, "PROGRESS", False):
            p.add_argument("--quiet", "--no-progress", dest="progress", action="store_false",
                           help="no progress bars")
        if getattr(module, "WRITES", True):
            p.add_argument("--overwrite", action="store_true",
                           help="replace existing outputs (default: refuse to touch them)")
        p.set_defaults(run=module.run,
                       on_interrupt=getattr(module, "ON_INTERRUPT", "nothing was written"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    kept = args.on_interrupt.format(**vars(args))
    with reliable_interrupts(f"{args.verb} interrupted; {kept}"):
        try:
            return int(args.run(args) or 0)
        except (InputError, OSError) as err:
            print(f"mlipselect {args.verb}: error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            signal.setitimer(signal.ITIMER_REAL, 0)
            print(f"mlipselect {args.verb}: interrupted; {kept}", file=sys.stderr)
            return 130
        finally:
            release_all()


STOP_WITHIN_S = 1.0
"""After Ctrl-C, a command still running this long (inside native code that returns to
Python only when done: BLAS, a calculator's library) is stopped outright."""


@contextlib.contextmanager
def reliable_interrupts(on_stop: str = "interrupted"):
    """Ctrl-C stops the command within ``STOP_WITHIN_S`` seconds, whatever it is running.

    Ctrl-C raises KeyboardInterrupt, but one raised inside a finaliser is lost (h5py's weakref
    callbacks run all the time), and the command would go on as if nothing happened: so it is
    raised again every half second until the command stops. And Python runs its handler only
    between bytecodes, never inside native code: so a watchdog thread, woken by the signal
    itself (``signal.set_wakeup_fd``, written by the C-level handler), removes the temporary
    files of writes in progress and ends the process when the command has not stopped in
    time. Every result is safe against that, as against a kill: finished work is committed,
    partial results resume."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        raise KeyboardInterrupt

    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    finished = threading.Event()

    def watchdog():
        with open(wake_read, "rb", buffering=0) as wake:
            while (byte := wake.read(1)) and byte[0] != signal.SIGINT:
                pass  # another signal (the half-second repeat): keep waiting for Ctrl-C
        if byte and not finished.wait(STOP_WITHIN_S):
            abandon_writes()
            print(f"\nmlipselect: {on_stop}; stopped inside native code", file=sys.stderr,
                  flush=True)
            os._exit(130)

    previous = signal.signal(signal.SIGINT, interrupt), signal.signal(signal.SIGALRM, interrupt)
    previous_fd = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    threading.Thread(target=watchdog, name="interrupt-watchdog", daemon=True).start()
    try:
        yield
    finally:
        finished.set()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGALRM, previous[1])
        os.close(wake_write)  # the watchdog reads the end of the pipe and returns


if __name__ == "__main__":
    sys.exit(main())
