"""Selection kernels on synthetic pools of known distributions: what they select, against
random selection, their documented guarantees (property tests) and their handling of bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlipselect.errors import InputError
from mlipselect.selection import kernels, uniform_by_atom_value, uniform_by_frame_value

NA, CL = 11, 17


def synthetic_atoms(frames=400, atoms=32, seed=0):
    """Per-atom values of a pool whose frames differ in 'temperature' (the width of their
    values, log-normal), Cl offset from Na: long tails, two species' distributions."""
    rng = np.random.default_rng(seed)
    width = np.repeat(rng.lognormal(0.0, 0.35, frames), atoms)
    species = np.tile([NA, CL], frames * atoms // 2)
    values = rng.standard_normal(frames * atoms) * width + 3.0 * (species == CL)
    return values, species, np.arange(frames + 1) * atoms


def atom_mask(frames, offsets):
    """The atoms of the given frames, as a mask over all atoms."""
    sizes = np.diff(offsets)
    return np.isin(np.repeat(np.arange(len(sizes)), sizes), frames)


def flatness(values, selected, bins=16):
    """Entropy of the selected values' histogram over the pool's range, over its maximum:
    1 for a flat histogram."""
    counts = np.histogram(values[selected], bins=bins, range=(values.min(), values.max()))[0]
    p = counts[counts > 0] / counts.sum()
    return -(p * np.log(p)).sum() / np.log(bins)


def tail_share(values, selected, percent=1.0):
    """Share of the selected values beyond the pool's ``percent`` and ``100 - percent``
    percentiles."""
    lo, hi = np.percentile(values, [percent, 100 - percent])
    v = values[selected]
    return np.mean((v < lo) | (v > hi))


def rarest_captured(values, selected):
    """Share of the pool's rarest values (beyond its 0.1/99.9 percentiles) selected."""
    lo, hi = np.percentile(values, [0.1, 99.9])
    return selected[(values < lo) | (values > hi)].mean()


def per_species(metric, values, species, selected):
    return np.mean([metric(values[species == s], selected[species == s]) for s in (NA, CL)])


def random_frames(frames, n, seeds=range(10)):
    return [np.random.default_rng(s).choice(frames, n, replace=False) for s in seeds]


class TestAtomsOnKnownDistributions:
    values, species, offsets = synthetic_atoms()
    n = 30

    def measure(self, metric, frames):
        return per_species(metric, self.values, self.species, atom_mask(frames, self.offsets))

    def against_random(self, metric, **options):
        chosen = uniform_by_atom_value(
            self.values, self.offsets, self.n, 0, species=self.species, **options
        )
        baseline = np.mean([self.measure(metric, r) for r in random_frames(400, self.n)])
        return self.measure(metric, chosen), baseline

    def test_selected_histogram_is_flatter_than_random(self):
        ours, random = self.against_random(flatness)
        assert ours > random + 0.1

    def test_tails_are_sampled_more_than_by_random(self):
        ours, random = self.against_random(tail_share)
        assert random == pytest.approx(0.02, abs=0.01)  # the definition of a percentile
        assert ours > 4 * random

    def test_rarest_atoms_are_captured(self):
        ours, random = self.against_random(rarest_captured)
        assert random < 0.15 and ours > 0.6

    def test_per_species_bins_capture_each_species_rarest_atoms(self):
        # Cl's values are offset from Na's: one range for both gives each species fewer,
        # wider bins, and its rare values share bins with the other's common ones.
        separate = uniform_by_atom_value(self.values, self.offsets, self.n, 0, species=self.species)
        pooled = uniform_by_atom_value(self.values, self.offsets, self.n, 0)
        assert self.measure(rarest_captured, separate) > self.measure(rarest_captured, pooled)

    def test_more_tail_than_global_energy_selection(self):
        energy = np.add.reduceat(self.values, self.offsets[:-1])
        by_energy = uniform_by_frame_value(energy, self.n, 0)
        ours, _ = self.against_random(tail_share)
        assert ours > 1.5 * self.measure(tail_share, by_energy)


class TestFramesOnKnownDistributions:
    values = np.random.default_rng(1).standard_normal(5000)
    n = 50

    def test_flatter_and_more_tail_than_random(self):
        chosen = uniform_by_frame_value(self.values, self.n, 0)
        randoms = random_frames(5000, self.n)
        mask = np.isin(np.arange(5000), chosen)
        random_masks = [np.isin(np.arange(5000), r) for r in randoms]
        assert flatness(self.values, mask, 10) > 0.95
        assert flatness(self.values, mask, 10) > max(flatness(self.values, m, 10)
                                                     for m in random_masks)
        assert tail_share(self.values, mask) > 5 * np.mean(
            [tail_share(self.values, m) for m in random_masks]
        )

    def test_sparse_bins_pass_their_quota_on(self):
        # 3 frames far out, 997 in a narrow cluster: the outliers' bins give what they have.
        values = np.r_[np.random.default_rng(2).normal(0, 0.01, 997), 5.0, 7.0, 9.0]
        chosen = uniform_by_frame_value(values, 20, 0)
        assert len(chosen) == 20
        assert {997, 998, 999} <= set(chosen)


def bins_of(values, n_bins):
    """The documented binning: equal-width bins over [min, max], the maximum in the last."""
    lo, hi = values.min(), values.max()
    if hi == lo:
        return np.zeros(len(values), dtype=int)
    return np.minimum((values - lo) * (n_bins / (hi - lo)), n_bins - 1).astype(int)


@st.composite
def frame_problems(draw):
    frames = draw(st.integers(1, 60))
    values = np.array(draw(st.lists(
        st.floats(-1e3, 1e3, allow_nan=False).map(lambda x: round(x, 1)),
        min_size=frames, max_size=frames,
    )))
    exclude = np.array(sorted(draw(st.sets(st.integers(0, frames - 1), max_size=frames - 1))),
                       dtype=int)
    n = draw(st.integers(1, frames - len(exclude)))
    return values, n, exclude, draw(st.integers(0, 2**32 - 1))


@st.composite
def atom_problems(draw):
    sizes = draw(st.lists(st.integers(1, 5), min_size=1, max_size=25))
    atoms = sum(sizes)
    values = np.array(draw(st.lists(
        st.floats(-50, 50, allow_nan=False).map(lambda x: round(x, 1)),
        min_size=atoms, max_size=atoms,
    )))
    species = np.array(draw(st.lists(st.sampled_from([NA, CL]), min_size=atoms,
                                     max_size=atoms)))
    frames = len(sizes)
    exclude = np.array(sorted(draw(st.sets(st.integers(0, frames - 1), max_size=frames - 1))),
                       dtype=int)
    n = draw(st.integers(1, frames - len(exclude)))
    offsets = np.r_[0, np.cumsum(sizes)]
    return values, species, offsets, n, exclude, draw(st.integers(0, 2**32 - 1))


def check_indices(chosen, n, n_frames, exclude):
    assert chosen.dtype == np.int64 and len(chosen) == n
    assert np.all(np.diff(chosen) > 0)  # sorted, no duplicates
    assert chosen.min() >= 0 and chosen.max() < n_frames
    assert not set(chosen) & set(exclude)


@settings(deadline=None)
@given(frame_problems())
def test_frame_kernel_properties(problem):
    values, n, exclude, seed = problem
    chosen = uniform_by_frame_value(values, n, seed, exclude=exclude)
    check_indices(chosen, n, len(values), exclude)
    np.testing.assert_array_equal(chosen, uniform_by_frame_value(values, n, seed, exclude=exclude))
    # Water filling: a bin with candidates left holds at most one frame fewer than any other.
    candidates = np.setdiff1d(np.arange(len(values)), exclude)
    b = bins_of(values, n)
    selected = np.bincount(b[chosen], minlength=n)
    available = np.bincount(b[candidates], minlength=n)
    short = selected < available
    if short.any():
        assert selected[short].min() >= selected.max() - 1
    assert np.all(selected[available > 0] >= 1)  # bins = n: every candidate bin is covered
    if n == len(candidates):
        np.testing.assert_array_equal(chosen, candidates)


@settings(deadline=None)
@given(atom_problems(), st.booleans())
def test_atom_kernel_properties(problem, separate):
    values, species, offsets, n, exclude, seed = problem
    species = species if separate else None
    chosen = uniform_by_atom_value(values, offsets, n, seed, species=species, bins=4,
                                   exclude=exclude)
    check_indices(chosen, n, len(offsets) - 1, exclude)
    again = uniform_by_atom_value(values, offsets, n, seed, species=species, bins=4,
                                  exclude=exclude)
    np.testing.assert_array_equal(chosen, again)
    candidates = np.setdiff1d(np.arange(len(offsets) - 1), exclude)
    if n == len(candidates):
        np.testing.assert_array_equal(chosen, candidates)
    # Coverage: once n reaches the number of bins holding candidate atoms, each has a
    # selected atom (bins per species over all atoms, excluded ones included).
    labels = np.zeros(len(values), dtype=int) if species is None else species
    key = np.zeros(len(values), dtype=int)
    for s in np.unique(labels):
        key[labels == s] = s * 4 + bins_of(values[labels == s], 4)
    occupied = set(key[atom_mask(candidates, offsets)])
    if n >= len(occupied):
        assert set(key[atom_mask(chosen, offsets)]) == occupied


@settings(deadline=None, max_examples=30)
@given(atom_problems(), st.data())
def test_streamed_chunks_select_what_the_arrays_do(problem, data):
    values, species, offsets, n, exclude, seed = problem
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(values) - 1)))))

    def chunks(array):
        return lambda: iter(np.split(array, cuts))

    whole = uniform_by_atom_value(values, offsets, n, seed, species=species, exclude=exclude)
    streamed = uniform_by_atom_value(chunks(values), offsets, n, seed,
                                     species=chunks(species), exclude=exclude)
    np.testing.assert_array_equal(whole, streamed)


def test_blocks_that_split_frames_give_the_same_selection(monkeypatch):
    values, species, offsets = synthetic_atoms(frames=50, atoms=10)
    whole = uniform_by_atom_value(values, offsets, 12, 3, species=species)
    monkeypatch.setattr(kernels, "BLOCK_ATOMS", 7)
    np.testing.assert_array_equal(whole, uniform_by_atom_value(values, offsets, 12, 3,
                                                               species=species))


def test_seeds_vary_the_selection():
    values, species, offsets = synthetic_atoms(frames=200)
    by_seed = {tuple(uniform_by_atom_value(values, offsets, 20, s, species=species))
               for s in range(4)}
    by_seed_energy = {tuple(uniform_by_frame_value(values[offsets[:-1]], 20, s))
                      for s in range(4)}
    assert len(by_seed) > 1 and len(by_seed_energy) > 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: uniform_by_frame_value([], 1, 0), "no frames to select from"),
        (lambda: uniform_by_frame_value([1.0, np.nan, 2.0], 1, 0, source="p.h5: 'energy'"),
         "p.h5: 'energy': frame 1 has a NaN or infinite value"),
        (lambda: uniform_by_frame_value([1.0, 2.0], 0, 0), "n must be an integer from 1 to 2"),
        (lambda: uniform_by_frame_value([1.0, 2.0, 3.0], 2, 0, exclude=[0, 1]),
         "from 1 to 1 (the pool's 3 frames less 2 excluded), got 2"),
        (lambda: uniform_by_frame_value([1.0, 2.0], 1, 0, exclude=[2]),
         "excluded frame 2 is not in the pool"),
        (lambda: uniform_by_frame_value([1.0, 2.0], 1.5, 0), "got 1.5"),
        (lambda: uniform_by_atom_value([1.0, np.inf, 2.0, 3.0], [0, 1, 3, 4], 1, 0),
         "frame 1 (atom 0) has a NaN or infinite value"),
        (lambda: uniform_by_atom_value([1.0, 2.0, 3.0], [0, 1, 3, 4], 1, 0,
                                       species=[1, 1, 2, -1]), "shape (3,), expected (4,)"),
        (lambda: uniform_by_atom_value([1.0, 2.0], [0, 2, 2], 1, 0), "frame 1 has no atoms"),
        (lambda: uniform_by_atom_value([1.0, 2.0], [0, 1, 2], 3, 0), "from 1 to 2"),
        (lambda: uniform_by_atom_value([1.0, 2.0], [0, 1, 2], 1, 0, species=[1, -1]),
         "species must be non-negative integers"),
        (lambda: uniform_by_atom_value([1.0, 2.0], [0, 1, 2], 1, 0, bins=0),
         "bins must be a positive integer"),
        (lambda: uniform_by_atom_value(lambda: iter([np.ones(3)]), [0, 2, 4], 1, 0),
         "3 atom values for 4 atoms"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(InputError) as err:
        call()
    assert message in str(err.value)
