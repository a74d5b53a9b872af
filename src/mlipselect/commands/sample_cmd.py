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

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ON_INTERRUPT = "finished state points are kept in {out}.parts/; the same command resumes"


def configure(p) -> None:
    p.add_argument("--config", "--profile", dest="profile", required=True,
                   help="profile name (smoke, quick, paper) or path to a profile YAML")
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


def _run_state(profile, index, out) -> int:
    from mlipselect.reference.sampler import sample_state

    return sample_state(profile, index, out)


def run(args) -> int:
    from mlipselect.config import for_test_sets, load_profile
    from mlipselect.errors import InputError
    from mlipselect.io import OutputExistsError, check_directory, claim_output, work_key
    from mlipselect.pool.frames_io import merge_pools, pool_path
    from mlipselect.pool.store import Pool
    from mlipselect.reference.sampler import state_work

    profile = load_profile(args.profile)
    if args.test_sets:
        profile = for_test_sets(profile)
    if args.threads is not None:
        profile["reference"]["threads"] = args.threads
    states = profile["sample"]["states"]
    if not states:
        raise InputError(f"{profile['path']}: sample.states is empty")
    names = [s["name"] for s in states]
    wanted = args.state or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        raise InputError(f"unknown state point(s) {unknown}; the profile has {names}")
    check_directory(pool_path(args.out))  # before the state points' work keys
    works = {name: state_work(profile, names.index(name)) for name in wanted}
    work = works[wanted[0]] if len(wanted) == 1 else work_key([works[n] for n in wanted])

    def work_of(path) -> str | None:
        with Pool(path) as pool:
            return pool.metadata.get("work")

    if claim_output(args.out, args.overwrite, done=lambda p: work_of(p) == work):
        print(f"{args.out} already holds these state points sampled with these settings; "
              "nothing to do", file=sys.stderr)
        return 0
    if len(wanted) == 1:  # one state point (a workflow job): straight to --out
        n = _run_state(profile, names.index(wanted[0]), args.out)
        print(f"state point '{wanted[0]}': {n} frames -> {args.out}", file=sys.stderr)
        return 0
    parts_dir = args.out.with_name(args.out.name + ".parts")
    parts_dir.mkdir(exist_ok=True)
    parts = {name: parts_dir / f"{name}.h5" for name in wanted}
    for name in wanted:
        if parts[name].exists() and work_of(parts[name]) != works[name]:
            if not args.overwrite:
                raise OutputExistsError(
                    f"{parts[name]}: state point '{name}' was sampled with other settings; "
                    "pass --overwrite to sample it again")
            parts[name].unlink()
    todo = [name for name in wanted if not parts[name].exists()]
    for name in sorted(set(wanted) - set(todo)):
        print(f"state point '{name}': done before, kept {parts[name]}", file=sys.stderr)
    jobs = args.jobs or profile["sample"]["jobs"]
    failures = []
    # forkserver: forking a process that has imported torch or LAMMPS threads can deadlock.
    context = multiprocessing.get_context("forkserver")
    workers = max(1, min(jobs, len(todo) or 1))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {name: pool.submit(_run_state, profile, names.index(name), parts[name])
                   for name in todo}
        for name, future in futures.items():
            try:
                n = future.result()
                print(f"state point '{name}': {n} frames -> {parts[name]}", file=sys.stderr)
            except RuntimeError as err:
                failures.append(str(err))
                print(f"error: {err}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} of {len(wanted)} state point(s) failed; {args.out} not written, "
              "the finished ones are kept for the next run", file=sys.stderr)
        return 1
    n = merge_pools([parts[name] for name in wanted], args.out, work=work)
    print(f"wrote {n} frames from {len(wanted)} state point(s) to {args.out}", file=sys.stderr)
    return 0
