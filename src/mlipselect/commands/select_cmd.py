"""Select training frames from a pool: random, uniform in energy, forces or atomic energies,
or by structure.

Methods: random; energy (uniform in the energy per atom); forces (uniform in the per-atom
force magnitudes |f_i|); atomic-energies (uniform in the per-atom energies E_i); fps, cur and
direct (farthest points, CUR, one frame per cluster, on per-frame SOAP descriptors, which are
computed once and cached beside the pool); and any a package registers. The exact semantics
are in docs/selection.md. A method's options come from the flags below, else the profile's
select.options.METHOD, else the method's defaults.

OUT gets the frames with their labels under ASE's keys (info['energy'], arrays['forces'],
arrays['energies']) and info['pool_index'], their row in the pool; every frame's info also
records the provenance: selection_method, selection_n, selection_seed, selection_OPTION for
each of the method's options, selection_excluded (with selection_exclude and
selection_exclude_sha256, the test set's file), selection_pool and selection_pool_sha256.

--extend SELECTION keeps SELECTION's frames first, each with the method and seed that chose
it, and excludes the test set SELECTION was selected without (named again with --exclude, or
carried over from where SELECTION records it); a different test set is refused.
"""

import argparse
from pathlib import Path

from mlipselect.commands import seed

PROFILE = "optional"


def parser_of(option):
    """``option``'s command-line reader: its own type, and argparse's message on a bad one."""
    from mlipselect.errors import InputError

    def read(text: str):
        try:
            return option.parse(text)
        except InputError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    read.__name__ = option.name
    return read


def configure(p) -> None:
    from mlipselect.selection import METHODS
    from mlipselect.selection.registry import load_plugins

    load_plugins()
    p.add_argument("pool", type=Path, help="pool file (HDF5)")
    p.add_argument("--method", required=True, choices=list(METHODS),
                   help="; ".join(f"{name}: {m.summary}" for name, m in METHODS.items()))
    p.add_argument("-n", type=int, required=True, help="number of frames to select")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    p.add_argument("--exclude", type=Path, default=None,
                   help="index file of frames never to select (from `mlipselect split`)")
    # One flag per option name any method declares, with each method's default.
    options: dict[str, tuple] = {}
    for name, method in METHODS.items():
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
                           type=parser_of(option), choices=choices,
                           metavar="{" + ",".join(choices) + "}" if choices else "X", help=what)
    ordered = ", ".join(name for name, m in METHODS.items() if m.ordered)
    p.add_argument("--extend", type=Path, default=None, metavar="SELECTION",
                   help=f"a selection of this pool to extend to n frames (ordered methods: "
                        f"{ordered}); its frames come first in OUT")
    p.add_argument("--out", required=True, type=Path,
                   help="selected frames, in the format of its extension (.extxyz, .traj, ...)")


def run(args) -> int:
    import sys

    from mlipselect.config import profile_or_defaults
    from mlipselect.selection.files import select_to_file

    settings = profile_or_defaults(args.profile)["select"]
    given = {key[len("option_"):]: value for key, value in vars(args).items()
             if key.startswith("option_") and value is not None}
    done = select_to_file(args.pool, args.method, args.n, args.out, seed=args.seed,
                          exclude=args.exclude, extend=args.extend,
                          options={**settings["options"].get(args.method, {}), **given},
                          overwrite=args.overwrite,
                          log=lambda line: print(line, file=sys.stderr))
    print(f"selected {done.new} frames -> {args.out}"
          + (f" (after the {done.kept} of {args.extend})" if done.kept else ""))
    return 0
