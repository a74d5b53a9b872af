"""Selection by structure: farthest points, CUR and strata on SOAP descriptors."""

from __future__ import annotations

import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
from test_selection_library import nacl_frames

sys.path.insert(0, str(Path(__file__).parents[1]))
from benchmarks.bench_selection import descriptor_like  # noqa: E402
from mlipselect.cli import main
from mlipselect.descriptors import frame_descriptors
from mlipselect.errors import InputError
from mlipselect.selection import select, structure
from mlipselect.selection.structure import covering_radius, cur_rows, farthest_points, strata


def brute_force_fps(x, n, first):
    picks, nearest = [first], np.linalg.norm(x - x[first], axis=1)
    for _ in range(n - 1):
        picks.append(int(np.argmax(nearest)))
        nearest = np.minimum(nearest, np.linalg.norm(x - x[picks[-1]], axis=1))
    return np.array(picks)


@pytest.mark.parametrize("parallel_rows", [0, structure.PARALLEL_ROWS],
                         ids=["all-threads", "one-thread"])
@pytest.mark.parametrize("seed", range(4))
def test_fps_equals_brute_force_and_skips_nothing_it_needs(seed, parallel_rows, monkeypatch):
    import numba

    monkeypatch.setattr(structure, "PARALLEL_ROWS", parallel_rows)
    threads = numba.get_num_threads()
    for x in (np.random.default_rng(seed).normal(size=(500, 6)), descriptor_like(800, 20, seed)):
        order, radius = farthest_points(x, 40, first=seed)
        np.testing.assert_array_equal(order, brute_force_fps(x, 40, seed))
        # radius[k] is pick k's distance to the earlier picks, and never grows
        for k in (1, 10, 39):
            assert radius[k] == pytest.approx(covering_radius(x, order[:k]), rel=1e-9)
        assert np.all(np.diff(radius[1:]) <= 1e-12)
    assert numba.get_num_threads() == threads  # a one-thread pass gives the others back


def test_fps_and_cur_pick_what_scikit_matter_picks():
    skmatter = pytest.importorskip("skmatter.sample_selection")
    rng = np.random.default_rng(1)
    for x in (rng.normal(size=(3000, 40)), descriptor_like(3000, 40, 1)):
        ours, _ = farthest_points(x, 50, first=11)
        theirs = skmatter.FPS(n_to_select=50, initialize=11).fit(x).selected_idx_
        np.testing.assert_array_equal(ours, theirs)
    x = rng.normal(size=(1000, 25))
    np.testing.assert_array_equal(cur_rows(x, 10),
                                  skmatter.CUR(n_to_select=10).fit(x).selected_idx_)


def test_candidates_extensions_and_float32():
    x = descriptor_like(2000, 30, 2)
    mask = np.ones(len(x), bool)
    mask[::4] = False
    order, _ = farthest_points(x, 30, first=1, candidates=mask)
    assert mask[order].all() and len(set(order)) == 30
    first, _ = farthest_points(x, 12, first=1, candidates=mask)
    grown, _ = farthest_points(x, 30, selected=first, candidates=mask)
    np.testing.assert_array_equal(grown, order)
    single, _ = farthest_points(x.astype(np.float32), 30, first=1, candidates=mask)
    assert len(set(single) & set(order)) >= 28  # float32 may reorder near-ties only
    assert set(cur_rows(x, 8, candidates=mask)) <= set(np.flatnonzero(mask))
    with pytest.raises(InputError, match="cannot pick 1600 of 1500 candidates"):
        farthest_points(x, 1600, first=1, candidates=mask)
    with pytest.raises(InputError, match="the first pick 0 is not a candidate"):
        farthest_points(x, 3, first=0, candidates=mask)


def test_strata_take_one_frame_from_each_cluster():
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(6, 10)) * 20
    label = np.repeat(np.arange(6), 50)
    x = centres[label] + rng.normal(size=(300, 10))
    chosen = strata(x, 6)
    assert sorted(label[chosen]) == list(range(6))
    np.testing.assert_array_equal(strata(x, 6), chosen)
    with pytest.raises(InputError, match="variance to keep must be in"):
        strata(x, 6, variance=1.5)


def test_fps_covers_the_pool_better_than_random():
    frames = nacl_frames(80)
    x = frame_descriptors(frames, len(frames), [11, 17], {})
    fps = select(frames, "fps", 10, seed=0)
    for seed in range(5):
        random = select(frames, "random", 10, seed=seed)
        assert covering_radius(x, fps) <= covering_radius(x, random)


@pytest.mark.parametrize("method", ["fps", "cur", "direct", "fps-atoms"])
def test_the_same_frames_give_the_same_structural_selection_in_every_form(tmp_path, method):
    ase.io.write(tmp_path / "mine.extxyz", nacl_frames(50))
    frames = ase.io.read(tmp_path / "mine.extxyz", ":")
    from_atoms = select(frames, method, 8, seed=2, exclude=[0, 3])
    assert len(set(from_atoms)) == 8 and not {0, 3} & set(from_atoms)
    pool = tmp_path / "pool.h5"
    assert main(["import", str(tmp_path / "mine.extxyz"), "--out", str(pool)]) == 0
    before = pool.read_bytes()
    np.testing.assert_array_equal(select(pool, method, 8, seed=2, exclude=[0, 3]), from_atoms)
    # The descriptors are cached beside the pool, which itself is left as it was.
    cached = list(tmp_path.glob("pool.descriptors-*"))
    assert len(cached) == 1 and pool.read_bytes() == before
    np.testing.assert_array_equal(select(pool, method, 8, seed=2, exclude=[0, 3]), from_atoms)
    assert main(["select", str(pool), "--method", method, "-n", "8", "--seed", "2",
                 "--out", str(tmp_path / "sel.extxyz")]) == 0
    # Other settings are another cache entry.
    select(pool, method, 8, seed=2, max_angular=1)
    assert len(list(tmp_path.glob("pool.descriptors-*"))) == 2


def test_descriptors_are_per_species_means_of_unit_power_spectra():
    frames = nacl_frames(3)
    x = frame_descriptors(frames, 3, [11, 17], {"max_radial": 3, "max_angular": 2})
    half = x.shape[1] // 2
    # each species block is a mean of unit vectors: length at most 1, near 1 for a crystal
    for block in (x[:, :half], x[:, half:]):
        norms = np.linalg.norm(block, axis=1)
        assert np.all(norms <= 1 + 1e-6) and np.all(norms > 0.9)
    with pytest.raises(InputError, match="species \\[19\\]"):
        potassium = frames[0].copy()
        potassium.numbers[0] = 19
        frame_descriptors([potassium], 1, [11, 17], {})


@pytest.mark.parametrize("chlorides", [32, 1])
def test_soap_local_energy_is_featomics_power_spectrum_and_its_forces(chlorides,
                                                                      numeric_force):
    """The GPR's prediction path: the power spectrum made from the spherical expansion equals
    featomic's, and its forces are minus the gradient, also where a centre has no neighbour
    of a species (one chloride in 63 sodium ions)."""
    from ase.build import bulk
    from ase.calculators.calculator import Calculator, all_changes

    from mlipselect.descriptors import Soap

    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(2)
    atoms.numbers[np.flatnonzero(atoms.numbers == 17)[chlorides:]] = 11
    atoms.rattle(0.2, seed=1)
    soap = Soap({"cutoff": 4.5, "max_radial": 3, "max_angular": 2, "atom_width": 0.5,
                 "smoothing": 0.5}, [11, 17])
    rng = np.random.default_rng(0)
    width = next(iter(soap.compute(atoms).values()))[1].shape[1]
    w = {s: rng.normal(size=(width, width)) for s in (11, 17)}

    seen = {}

    def cubic(s, x):  # sum over atoms and k of (x W)_k x_k^2, and its gradient
        seen[s] = x
        return np.sum((x @ w[s]) * x * x), (x * x) @ w[s].T + 2 * (x @ w[s]) * x

    energy, forces = soap.local_energy(atoms, cubic)
    featomic = soap.compute(atoms)
    assert set(seen) == set(featomic) == {11, 17}
    for s, (_, x, _, _) in featomic.items():
        np.testing.assert_allclose(seen[s], x, rtol=1e-12, atol=1e-14)
    assert energy == pytest.approx(sum(np.sum((x @ w[s]) * x * x)
                                       for s, (_, x, _, _) in featomic.items()), rel=1e-12)

    class Local(Calculator):
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            self.results["energy"], self.results["forces"] = soap.local_energy(
                self.atoms, cubic)

    atoms.calc = Local()
    for atom in (0, 5, len(atoms) - 1):
        for axis in range(3):
            assert forces[atom, axis] == pytest.approx(
                numeric_force(atoms, atom, axis, 1e-4), abs=1e-6)


def test_coverage_reports_what_fps_is_built_for(tmp_path, capsys):
    import json

    from mlipselect.analysis.coverage import entropy

    ase.io.write(tmp_path / "mine.extxyz", nacl_frames(60))
    pool = tmp_path / "pool.h5"
    assert main(["import", str(tmp_path / "mine.extxyz"), "--out", str(pool)]) == 0
    for method in ("fps", "random"):
        assert main(["select", str(pool), "--method", method, "-n", "10",
                     "--out", str(tmp_path / f"{method}.extxyz")]) == 0
    report = tmp_path / "coverage.json"
    assert main(["coverage", str(pool), str(tmp_path / "fps.extxyz"),
                 str(tmp_path / "random.extxyz"), "--out", str(report)]) == 0
    numbers = json.loads(report.read_text())
    fps, random = (numbers["selections"][str(tmp_path / f"{m}.extxyz")] for m in
                   ("fps", "random"))
    assert fps["covering_radius"] <= random["covering_radius"]
    assert fps["atoms"] == {"11": 40, "17": 40} and fps["frames"] == 10
    for entry in (fps, random):
        assert 0 <= entry["entropy"] <= np.log(10) + 1e-9 and 0 < entry["coverage"] <= 1
    assert "fps.extxyz" in capsys.readouterr().out
    # entropy: 0 for copies of one frame, log n for frames far apart
    assert entropy(np.zeros((5, 3)), 0.1) == pytest.approx(0.0)
    assert entropy(np.eye(5) * 100, 0.1) == pytest.approx(np.log(5))
    # a selection of another pool is refused
    ase.io.write(tmp_path / "other.extxyz", nacl_frames(20, seed=3))
    assert main(["import", str(tmp_path / "other.extxyz"),
                 "--out", str(tmp_path / "other.h5")]) == 0
    assert main(["coverage", str(tmp_path / "other.h5"), str(tmp_path / "fps.extxyz")]) == 2
    assert "not a selection of this pool" in capsys.readouterr().err


def test_select_shows_the_descriptors_progress_unless_quiet(tmp_path, capsys):
    ase.io.write(tmp_path / "mine.extxyz", nacl_frames(12))
    pool = tmp_path / "pool.h5"
    assert main(["import", str(tmp_path / "mine.extxyz"), "--out", str(pool), "--quiet"]) == 0
    for quiet in (True, False):
        for cache in tmp_path.glob("pool.descriptors-*"):
            cache.unlink()
        capsys.readouterr()
        assert main(["select", str(pool), "--method", "fps", "-n", "4",
                     "--out", str(tmp_path / f"fps-{quiet}.extxyz")]
                    + ["--quiet"] * quiet) == 0
        assert ("descriptors: 100%" in capsys.readouterr().err) is not quiet


def single_species_frames(count, number, seed):
    """Rattled simple-cubic cells of one species: their environments are that species'."""
    from ase import Atoms

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        grid = np.stack(np.meshgrid(*[np.arange(2)] * 3), -1).reshape(-1, 3) * 2.8
        atoms = Atoms([number] * 8, positions=grid + rng.normal(0, 0.1, (8, 3)),
                      cell=[5.6] * 3, pbc=True)
        frames.append(atoms)
    return frames


def test_fps_atoms_honours_per_species_quotas_exactly():
    from mlipselect.selection.fps_atoms import quotas

    assert quotas({11: 300, 17: 100}, 10, "pool") == {11: 8, 17: 2}  # 7.5 and 2.5: tie to 11
    assert quotas({11: 300, 17: 100}, 9, "equal") == {11: 5, 17: 4}
    frames = single_species_frames(30, 11, 0) + single_species_frames(10, 17, 1)
    numbers = np.array([a.numbers[0] for a in frames])
    for quota, expected in (("equal", {11: 6, 17: 6}), ("pool", {11: 9, 17: 3})):
        chosen = select(frames, "fps-atoms", 12, seed=1, quota=quota, exclude=[0])
        found = dict(zip(*np.unique(numbers[chosen], return_counts=True), strict=True))
        assert {int(k): int(v) for k, v in found.items()} == expected and 0 not in chosen
        np.testing.assert_array_equal(
            select(frames, "fps-atoms", 12, seed=1, quota=quota, exclude=[0]), chosen)
    # 12 each is beyond the 10 frames of species 17: it brings all 10, species 11 the rest
    chosen = select(frames, "fps-atoms", 24, quota="equal")
    assert len(set(chosen.tolist())) == 24 and (numbers[chosen] == 17).sum() == 10
    with pytest.raises(InputError, match="must be one of 'pool', 'equal'"):
        select(frames, "fps-atoms", 4, quota="some")
