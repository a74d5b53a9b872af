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

from pathlib import Path

from mlipselect.commands import add_option_flags, given_options, seed

PROFILE = "optional"
PROGRESS = True


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
    add_option_flags(p, METHODS)
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

    settings = profile_or_defaults(args.profile).select
    done = select_to_file(args.pool, args.method, args.n, args.out, seed=args.seed,
                          exclude=args.exclude, extend=args.extend,
                          options={**settings.options.get(args.method, {}),
                                   **given_options(args)},
                          overwrite=args.overwrite,
                          log=lambda line: print(line, file=sys.stderr), progress=args.progress)
    print(f"selected {done.new} frames -> {args.out}"
          + (f" (after the {done.kept} of {args.extend})" if done.kept else ""))
    return 0
