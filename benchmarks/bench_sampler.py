"""The sampler against bare LAMMPS on the same input: frame output costs at most 10%."""

import tempfile
import time
from pathlib import Path

from mlipselect.config import Profile, complete_profile
from mlipselect.reference.sampler import StateRun

from .goals import goal


def _profile(repeat: int) -> Profile:
    return complete_profile({
        "system": {"repeat": repeat}, "reference": {"cutoff": 9.0},
        "sample": {"equilibrate_ps": 0.0, "production_ps": 1.0, "every": 50,
                   "states": [{"name": "melt-1400K", "ensemble": "nvt", "temperature": 1400,
                               "pressure": 1, "phase": "crystal"}]}}, "bench")


def _production_seconds(profile, sampler: bool) -> float:
    """Seconds for the production steps of the same prepared input: through the sampler with
    frames written to a pool, or as one bare LAMMPS `run` with nothing gathered."""
    run = StateRun(profile, 0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            if sampler:
                run.write(Path(tmp) / "pool.h5", {}, progress=False)
            else:
                run.lmp.command(f"run {run.n_frames * run.every}")
            return time.perf_counter() - start
    finally:
        run.close()


class SamplerThroughput:
    """Atom-steps per second of the sampler and of bare LAMMPS, and their ratio (goal >= 0.9)."""

    params = [216, 1000]
    param_names = ["ions"]
    timeout = 600
    number = 1
    repeat = 1

    def setup(self, ions):
        self.profile = _profile({216: 3, 1000: 5}[ions])
        self.atom_steps = ions * 500

    def track_bare_lammps_atom_steps_per_s(self, ions):
        return self.atom_steps / _production_seconds(self.profile, sampler=False)

    track_bare_lammps_atom_steps_per_s.unit = "atom-steps/s"

    def track_sampler_atom_steps_per_s(self, ions):
        return self.atom_steps / _production_seconds(self.profile, sampler=True)

    track_sampler_atom_steps_per_s.unit = "atom-steps/s"

    @goal(">=", 0.9)
    def track_sampler_over_bare_lammps(self, ions):
        # Fastest of three each, timed in turn: a change in the machine's load touches both.
        bare, sampler = [], []
        for _ in range(3):
            bare.append(_production_seconds(self.profile, sampler=False))
            sampler.append(_production_seconds(self.profile, sampler=True))
        return min(bare) / min(sampler)

    track_sampler_over_bare_lammps.unit = "ratio"
