"""pytest-benchmark micro-benchmarks of the hottest kernels.

`tox -e tests` runs them once each as plain tests (benchmarking disabled); `tox -e bench`
times them. Each still checks what its kernel returns.
"""

import numpy as np
import pytest

from mlipselect.analysis.rdf import compute_rdf
from mlipselect.reference.sampler import rocksalt
from mlipselect.selection import uniform_by_atom_value, uniform_by_frame_value


@pytest.fixture(scope="module")
def atom_pool():
    rng = np.random.default_rng(0)
    offsets = np.arange(0, 1_000_001, 1000)
    values = rng.standard_t(3, size=offsets[-1]).astype(np.float32)
    return values, offsets


def test_frame_selection_1e5_frames(benchmark):
    values = np.random.default_rng(0).gamma(2.0, size=100_000)
    chosen = benchmark(uniform_by_frame_value, values, 512, 0)
    assert len(np.unique(chosen)) == 512
    # Uniform in value: a frame from each end bin of the range, and a flat histogram where
    # the pool has enough frames (random selection follows the gamma distribution's peak:
    # 291, 157, 48, 11, 3 in the first five eighths).
    width = (values.max() - values.min()) / 512
    assert values[chosen].min() < values.min() + width
    assert values[chosen].max() > values.max() - width
    counts = np.histogram(values[chosen], bins=8, range=(values.min(), values.max()))[0]
    assert counts[:5].min() >= 0.9 * counts[:5].max()


def test_atom_selection_1e6_values(benchmark, atom_pool):
    values, offsets = atom_pool
    chosen = benchmark(uniform_by_atom_value, values, offsets, 64, 0)
    assert len(np.unique(chosen)) == 64
    # The rarest values come first: the frames holding the smallest and largest are chosen.
    holding = np.searchsorted(offsets, [values.argmin(), values.argmax()], side="right") - 1
    assert set(holding) <= set(chosen)


def test_rdf_of_1000_ion_frames(benchmark):
    frames = []
    for k in range(4):
        atoms = rocksalt(5, 5.62)
        atoms.rattle(0.2, rng=np.random.default_rng(k))
        frames.append(atoms)
    rdf = benchmark(compute_rdf, frames, 8.0, 160, 2)
    nearest = rdf.r[np.argmax(rdf.g["Na-Cl"])]
    assert nearest == pytest.approx(5.62 / 2, abs=0.1)
