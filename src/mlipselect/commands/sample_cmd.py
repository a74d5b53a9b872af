"""Sample the pool: BMHTF NaCl MD in LAMMPS at the profile's state points.

Runs every state point of the profile's `sample.states` (or only those named with --state),
each into its own part file beside the output (OUT.parts/NAME.h5), then merges the parts into
OUT; a single state point is written to OUT directly. Finished parts are kept: an
interrupted run resumes with the state points still missing, and a rerun of finished work
does nothing. Each part records the settings it was sampled with; a part (or OUT) sampled
with other settings is refused, or resampled with --overwrite.
A state point that fails is reported by name; the others are still written.
With --test-sets, samples test frames instead: new trajectories at the pool's state points
and at the profile's test.states, with the test section's seed, production time and stride.
"""

from __future__ import annotations

import sys
from pathlib import Path

ON_INTERRUPT = "finished state points are kept in {out}.parts/; the same command resumes"

PROFILE = "required"
PROGRESS = True


def configure(p) -> None:
    p.add_argument("--out", required=True, type=Path, help="pool file to write (HDF5)")
    p.add_argument("--state", action="append", default=None, metavar="NAME",
                   help="run only this state point (repeatable)")
    p.add_argument("--test-sets", action="store_true",
                   help="sample test frames: the profile's test section (independent runs at "
                        "the pool's state points, and test.states)")
    p.add_argument("--jobs", type=int, default=None,
                   help="state points run at the same time (default: the profile's sample.jobs)")
    p.add_argument("--threads", type=int, default=None,
                   help="OpenMP threads per LAMMPS run (default: the profile's reference.threads)")


def run(args) -> int:
    from mlipselect.config import load_profile
    from mlipselect.reference.sampler import sample_states

    profile = load_profile(args.profile)
    result = sample_states(profile.for_test_sets() if args.test_sets else profile, args.out,
                           states=args.state, jobs=args.jobs, threads=args.threads,
                           overwrite=args.overwrite, progress=args.progress,
                           log=lambda line: print(line, file=sys.stderr))
    if result.reused:
        print(f"{args.out} already holds these state points sampled with these settings; "
              "nothing to do", file=sys.stderr)
    elif result.failed:
        print(f"{len(result.failed)} state point(s) failed; {args.out} not written, the "
              "finished ones are kept for the next run", file=sys.stderr)
        return 1
    elif len(args.state or []) != 1:
        print(f"wrote {result.frames} frames to {args.out}", file=sys.stderr)
    return 0
