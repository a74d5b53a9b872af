"""Selection by a model's uncertainty against its peers and limits, as ratios in one run:

- QUESTS' dataset entropy and ours (``analysis.coverage.entropy``) on the same descriptor rows
  and bandwidth: the same number, ours at least as fast (skipped where quests is missing);
- apax's batch-active-learning ``max_dist`` and ours (``selection.batch.max_dist``) on the same
  feature matrix: the same picks, ours at least as fast (skipped where apax is missing: it
  needs JAX and TensorFlow, which the project's environment does not carry);
- scoring frames by a committee of three SchNet networks takes at most 1.2x the committee's own
  batched inference on the same frames (the limit), and streaming 10x more frames costs at
  most 1.2x the peak memory.
"""

import subprocess
import sys
import textwrap

import numpy as np

from .bench_selection import best_seconds
from .goals import goal


def descriptor_rows(frames: int, dims: int = 64, seed: int = 0) -> np.ndarray:
    """Unit rows near a few directions, as normalised SOAP spectra of MD frames are."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, dims))
    x = centres[rng.integers(0, 8, frames)] + 0.3 * rng.normal(size=(frames, dims))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class EntropyAgainstQUESTS:
    """Dataset entropy of ``frames`` descriptor rows at the bandwidth of their typical
    spacing."""

    params = [2_000, 10_000]
    param_names = ["frames"]
    number = 1
    repeat = 1
    timeout = 600

    def setup(self, frames):
        try:
            from quests.entropy import entropy
        except ImportError:
            raise NotImplementedError("quests is not installed") from None
        from mlipselect.selection import typical_spacing

        self.theirs = entropy
        self.x = descriptor_rows(frames)
        self.h = typical_spacing(self.x)
        entropy(self.x[:100], h=self.h)  # numba compiles on the first call

    def _ours(self):
        from mlipselect.analysis.coverage import entropy

        return entropy(self.x, self.h)

    @goal("<=", 1e-6)
    def track_relative_difference(self, frames):
        theirs = float(self.theirs(self.x, h=self.h))
        return abs(self._ours() - theirs) / abs(theirs)

    track_relative_difference.unit = "ratio"

    @goal(">=", 1.0)
    def track_speedup_over_quests(self, frames):
        return best_seconds(lambda: self.theirs(self.x, h=self.h)) / best_seconds(self._ours)

    track_speedup_over_quests.unit = "ratio"


class MaxDistAgainstApax:
    """``max_dist`` picks of 256 rows from ``frames`` last-layer-gradient-like features."""

    params = [10_000, 100_000]
    param_names = ["frames"]
    number = 1
    repeat = 1
    timeout = 600

    def setup(self, frames):
        try:
            from apax.bal.kernel import KernelMatrix
            from apax.bal.selection import max_dist_selection
        except ImportError:
            raise NotImplementedError("apax is not installed") from None
        self.g = descriptor_rows(frames, dims=33) * np.random.default_rng(1).uniform(
            0.5, 2.0, (frames, 1))  # norms vary, as gradient features' do
        self.theirs = lambda: max_dist_selection(KernelMatrix(self.g.copy(), 0), 256)[0]
        self._ours()  # numba compiles on the first call

    def _ours(self):
        from mlipselect.selection.batch import max_dist

        return max_dist(self.g, 256)

    @goal(">=", 1.0)
    def track_same_picks(self, frames):
        return float(np.array_equal(np.asarray(self.theirs()), self._ours()))

    track_same_picks.unit = "ratio"

    @goal(">=", 1.0)
    def track_speedup_over_apax(self, frames):
        return best_seconds(self.theirs) / best_seconds(self._ours)

    track_speedup_over_apax.unit = "ratio"


def committee(count: int = 3, size: dict | None = None):
    """``count`` SchNet networks of the quick profile's 16x2 size (or of ``size``'s settings),
    random weights, seeds 0, 1, ...: scored as trained ones are, at the same cost."""
    import torch

    from mlipselect.config import load_profile
    from mlipselect.models import family_settings
    from mlipselect.models.nn import SchNetPotential, build_network

    settings = {**family_settings(load_profile("quick"), "nn", "16x2"), **(size or {})}
    members = []
    for seed in range(count):
        torch.manual_seed(seed)
        network = build_network(settings, scale=0.5, shift=-3.0).eval().requires_grad_(False)
        members.append(SchNetPotential({"family": "nn", "size": "16x2", "seed": seed,
                                        "species": [11, 17], "settings": settings}, network))
    return members


def melt_frames(frames: int, repeat: int = 3):
    """Rocksalt NaCl (8 * repeat^3 ions) at melt density, displaced differently per frame."""
    from mlipselect.reference.sampler import rocksalt

    rng = np.random.default_rng(0)
    base = rocksalt(repeat, 6.17)
    for _ in range(frames):
        atoms = base.copy()
        atoms.positions += rng.normal(scale=0.2, size=atoms.positions.shape)
        yield atoms


class CommitteeScoring:
    """A committee of three SchNet 16x2 on 216-ion frames: scoring over inference alone."""

    number = 1
    repeat = 1
    timeout = 600

    def setup(self):
        self.members = committee()
        self.frames = list(melt_frames(128))

    def _inference(self):
        for member in self.members:
            for _ in member.predict_many(self.frames):
                pass

    def _scoring(self):
        from mlipselect.active.scores import committee_spread

        committee_spread(self.members, self.frames)

    @goal("<=", 1.2)
    def track_scoring_over_inference(self):
        self._inference()  # warm up
        return best_seconds(self._scoring) / best_seconds(self._inference)

    track_scoring_over_inference.unit = "ratio"


STREAM = textwrap.dedent("""\
    import resource, sys
    from benchmarks.bench_active import committee, melt_frames
    from mlipselect.active.scores import committee_spread
    tiny = {"features": 8, "interactions": 1, "cutoff": 3.0, "rbf": 8}
    committee_spread(committee(size=tiny), melt_frames(int(sys.argv[1]), repeat=1))
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """)


class CommitteeStreaming:
    """Peak memory of scoring 8-ion frames streamed from a generator, 10^5 against 10^4
    (by networks with a 3 A cutoff, which the frames' count, not the model, makes slow)."""

    number = 1
    repeat = 1
    timeout = 900

    @staticmethod
    def _peak_kb(frames: int) -> int:
        out = subprocess.run([sys.executable, "-c", STREAM, str(frames)], capture_output=True,
                             text=True, check=True)
        return int(out.stdout.split()[-1])

    @goal("<=", 1.2)
    def track_peak_memory_1e5_over_1e4(self):
        return self._peak_kb(100_000) / self._peak_kb(10_000)

    track_peak_memory_1e5_over_1e4.unit = "ratio"
