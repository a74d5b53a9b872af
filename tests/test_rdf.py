"""Partial g(r): crystal shells and coordination numbers, normalisation in any cell, block
errors, the comparison with a reference, and the rdf verb."""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from mlipselect.analysis.rdf import RDF, compare_with_reference, compute_rdf, read_rdf_csv
from mlipselect.cli import main
from mlipselect.errors import InputError
from mlipselect.reference.sampler import rocksalt

PAIRS = ("Na-Na", "Na-Cl", "Cl-Cl")
A = 5.62  # A, the BMHTF model's 0 K lattice constant

# Rocksalt shells: (pair, distance, ions in that shell around one ion).
SHELLS = [
    ("Na-Cl", A / 2, 6), ("Na-Cl", A * np.sqrt(3) / 2, 8), ("Na-Cl", A * np.sqrt(5) / 2, 24),
    ("Na-Na", A / np.sqrt(2), 12), ("Na-Na", A, 6), ("Na-Na", A * np.sqrt(1.5), 24),
    ("Cl-Cl", A / np.sqrt(2), 12), ("Cl-Cl", A, 6), ("Cl-Cl", A * np.sqrt(1.5), 24),
]


def _shell_counts(rdf: RDF, pair: str) -> list[tuple[float, float]]:
    """(distance, ions) of each run of non-zero bins of g_pair."""
    g, dr = rdf.g[pair], rdf.dr
    occupied = np.flatnonzero(g > 0)
    runs = np.split(occupied, np.flatnonzero(np.diff(occupied) > 1) + 1)
    shells = []
    for run in runs:
        lo, hi = rdf.r[run[0]] - dr / 2, rdf.r[run[-1]] + dr / 2
        count = rdf.coordination(pair, hi) - rdf.coordination(pair, lo)
        shells.append((float(rdf.r[run].mean()), count))
    return shells


@pytest.mark.parametrize("cell", ["cubic", "triclinic"])
def test_rocksalt_shells_at_their_distances_with_their_coordination(cell):
    # The conventional cubic cell (216 ions) and the triclinic primitive fcc cell (128 ions)
    # describe the same crystal: every shell must come out at its distance with its count.
    atoms = rocksalt(3, A) if cell == "cubic" else bulk("NaCl", "rocksalt", a=A).repeat(4)
    rdf = compute_rdf([atoms], rmax=7.0, bins=700)
    for pair in PAIRS:
        expected = [(d, n) for p, d, n in SHELLS if p == pair]
        found = _shell_counts(rdf, pair)
        assert len(found) == len(expected), (pair, found)
        for (d, n), (r, count) in zip(expected, found, strict=True):
            assert r == pytest.approx(d, abs=rdf.dr)
            assert count == pytest.approx(n, abs=1e-9)
    assert rdf.coordination("Na-Cl", 3.5) == pytest.approx(6.0)
    assert rdf.coordination("Na-Na", 4.5) == pytest.approx(12.0)
    assert rdf.frames == 1 and np.isnan(rdf.err["Na-Cl"]).all()


def test_ideal_gas_is_one_within_its_block_errors():
    # Uncorrelated positions: g = 1 at every r, in a cell whose shape and volume change from
    # frame to frame (each frame normalised with its own volume).
    rng = np.random.default_rng(0)
    frames = []
    for k in range(40):
        cell = np.array([[20.0, 0, 0], [3.0, 21.0, 0], [-2.0, 4.0, 19.0]]) * (1 + 0.05 * (k % 3))
        frac = rng.random((300, 3))
        frames.append(Atoms("Na150Cl150", scaled_positions=frac, cell=cell, pbc=True))
    rdf = compute_rdf(frames, rmax=8.0, bins=40, blocks=8)
    deviation = np.concatenate([rdf.g[p][10:] - 1 for p in PAIRS])  # r > 2 A: pairs enough
    err = np.concatenate([rdf.err[p][10:] for p in PAIRS])
    # No bias: the mean over 30 bins of each pair is 1 within 4 of its standard errors.
    for dev in deviation.reshape(3, -1):
        assert abs(dev.mean()) < 4 * np.sqrt(np.mean(err**2) / dev.size)
    # Honest errors: the scatter of g about 1 matches the block-averaged error bars (the
    # ratio of variances is 1 within its own spread over 90 bins and 8 blocks).
    assert 0.5 < np.mean(deviation**2) / np.mean(err**2) < 2.0


def _melt_like(r: np.ndarray, rise: float, peak: float, height: float) -> np.ndarray:
    """A smooth g(r) that is zero below ``rise`` and peaks at ``peak``."""
    x = (r - rise) / (peak - rise)
    return np.where(r > rise, 1 + (height - 1) * x * np.exp(1 - x), 0.0)


def _table(g: np.ndarray, r: np.ndarray) -> RDF:
    return RDF(r=r, g={p: g for p in PAIRS}, err={p: np.zeros_like(r) for p in PAIRS},
               density={p: 0.015 for p in PAIRS}, frames=1)


def test_compare_measures_a_short_range_artifact_and_peak_errors():
    r = np.arange(0.025, 8.0, 0.05)
    ref = _table(_melt_like(r, 3.0, 3.925, 2.0), r)
    same = compare_with_reference(ref, ref, "Na-Na")
    assert same["iae"] == 0 and same["artifact"] == 0
    assert same["peak_r_error"] == 0 and same["peak_g_error"] == 0
    assert same["r_rise"] == pytest.approx(3.025)
    # A spurious Na-Na peak at 2.2 A of area 0.3 A where the reference has no pairs, and a
    # first peak shifted out by 0.1 A and 0.2 higher.
    bump = 0.3 * np.exp(-0.5 * ((r - 2.2) / 0.08) ** 2) / (0.08 * np.sqrt(2 * np.pi))
    model = _table(_melt_like(r, 3.1, 4.025, 2.2) + bump, r)
    m = compare_with_reference(model, ref, "Na-Na")
    assert m["artifact"] == pytest.approx(0.3, rel=1e-3)
    assert m["peak_r_error"] == pytest.approx(0.1, abs=1e-9)
    assert m["peak_g_error"] == pytest.approx(0.2, abs=0.01)
    assert m["iae"] > m["artifact"]
    with pytest.raises(InputError):
        compare_with_reference(model, ref, "Na-K")


def test_rdf_verb_writes_csv_and_compares(tmp_path, capsys):
    rng = np.random.default_rng(1)
    frames = []
    for _ in range(6):
        atoms = rocksalt(2, A)
        atoms.positions += rng.normal(scale=0.15, size=atoms.positions.shape)
        frames.append(atoms)
    traj = tmp_path / "crystal.extxyz"
    ase.io.write(traj, frames)
    out, again = tmp_path / "rdf.csv", tmp_path / "again.csv"
    assert main(["rdf", str(traj), "--rmax", "5.5", "--bins", "55", "--blocks", "3",
                 "--out", str(out)]) == 0
    header = out.read_text().splitlines()[0].split(",")
    assert header == ["r", *PAIRS, *(f"{p}_err" for p in PAIRS)]
    table = read_rdf_csv(out)
    assert len(table.r) == 55 and np.all(table.err["Na-Cl"] >= 0)
    direct = compute_rdf(frames, rmax=5.5, bins=55, blocks=3)
    np.testing.assert_allclose(table.g["Na-Cl"], direct.g["Na-Cl"], rtol=1e-5)
    metrics = tmp_path / "metrics.json"
    assert main(["rdf", str(traj), "--config", "smoke", "--rmax", "5.5", "--bins", "55",
                 "--out", str(again), "--reference", str(out), "--metrics", str(metrics)]) == 0
    result = {m["pair"]: m for m in json.loads(metrics.read_text())}
    assert set(result) == set(PAIRS)
    # The same frames against themselves (only the block split differs): nothing to report.
    assert result["Na-Cl"]["iae"] < 1e-4 and result["Na-Na"]["artifact"] == 0
    assert "short-range artifact" in capsys.readouterr().out


def test_partials_for_every_species_pair_of_any_system(tmp_path):
    # Copper (fcc, one species) and KCl (no Na) get partials for each species pair
    # present, species ordered by atomic number; fcc's first shell is 12 at a / sqrt(2).
    cu = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
    rdf = compute_rdf([cu], rmax=3.0, bins=300)
    assert rdf.pairs == ["Cu-Cu"]
    assert rdf.coordination("Cu-Cu", 2.8) == pytest.approx(12.0)
    assert rdf.r[np.argmax(rdf.g["Cu-Cu"])] == pytest.approx(3.61 / np.sqrt(2), abs=rdf.dr)
    kcl = bulk("KCl", "rocksalt", a=6.3, cubic=True).repeat(2)
    rdf = compute_rdf([kcl], rmax=5.0, bins=500)
    assert rdf.pairs == ["Cl-Cl", "Cl-K", "K-K"]  # Cl (17) before K (19)
    assert rdf.coordination("Cl-K", 3.5) == pytest.approx(6.0)
    path = tmp_path / "kcl.csv"
    rdf.write_csv(path)
    assert read_rdf_csv(path).pairs == rdf.pairs


def test_rdf_verb_names_a_frame_with_other_species(tmp_path, capsys):
    path = tmp_path / "mixed.extxyz"
    ase.io.write(path, [bulk("NaCl", "rocksalt", a=A, cubic=True),
                        bulk("KCl", "rocksalt", a=6.3, cubic=True)])
    assert main(["rdf", str(path), "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "frame 1" in err and "Cl, K" in err
    assert not (tmp_path / "x.csv").exists()
