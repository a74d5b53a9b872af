"""Guarded MD: the reference melt's charge-ordered structure, ASE and LAMMPS running
the same protocol, NVE energy conservation, the stability guard, resumption, the md verb."""

from __future__ import annotations

import json
from dataclasses import replace

import ase.io
import numpy as np
import pytest
import vesin
from ase.calculators.calculator import Calculator, all_changes

from mlipselect.analysis.rdf import compare_with_reference, compute_rdf
from mlipselect.cli import main
from mlipselect.config import MD, complete_profile
from mlipselect.errors import InputError
from mlipselect.md import Guard, read_status, run_md, status_path, temperature
from mlipselect.pool.frames_io import export_pool
from mlipselect.reference.calculator import BMHTF
from mlipselect.reference.sampler import sample_state

REFERENCE = {"cutoff": 6.0, "kspace": "pppm", "accuracy": 1e-5, "threads": 1}
"""BMHTF for 64 ions (a cell about 12.5 A wide)."""


def md_settings(**changes) -> MD:
    return MD(**changes)


MELT_DENSITY = 2.1389 - 5.43e-4 * 1400
"""g/cm^3: molten NaCl at 1400 K (Janz, Molten Salts Handbook, linear fit in T)."""


@pytest.fixture(scope="module")
def melt(tmp_path_factory):
    """64 ions of BMHTF NaCl at the melt's density, melted at 2500 K and equilibrated at
    1400 K (LAMMPS, NVT): a fixed volume, as in the simulations the structure is compared with,
    rather than a 64-ion NPT volume that fluctuates by several percent."""
    pair_mass = (22.98977 + 35.453) * 1.66054  # 1e-24 g
    lattice = (32 * pair_mass / MELT_DENSITY / 8) ** (1 / 3)  # 2x2x2 cells of 8 ions
    profile = complete_profile({
        "reference": REFERENCE, "system": {"repeat": 2, "lattice_constant": lattice},
        "sample": {"melt_ps": 3.0, "equilibrate_ps": 4.0, "production_ps": 0.1, "every": 50,
                   "states": [{"name": "melt", "ensemble": "nvt", "temperature": 1400,
                               "pressure": 1, "phase": "melt"}]}}, "melt")
    tmp = tmp_path_factory.mktemp("melt")
    sample_state(profile, 0, tmp / "melt.h5", progress=False)
    export_pool(tmp / "melt.h5", tmp / "melt.extxyz")
    return ase.io.read(tmp / "melt.extxyz", index=-1)


@pytest.fixture(scope="module")
def reference_runs(melt, tmp_path_factory):
    """The same 16 ps NVT protocol from the same start: through ASE and inside LAMMPS."""
    tmp = tmp_path_factory.mktemp("runs")
    settings = md_settings(time_ps=16.0, stride=10, seed=3)
    runs = {}
    for engine in ("ase", "lammps"):
        out = tmp / f"{engine}.extxyz"
        kwargs = ({"calculator": BMHTF(**REFERENCE)} if engine == "ase"
                  else {"reference": REFERENCE})
        status = run_md(melt, out, settings, model="reference", progress=False, **kwargs).status
        assert status.stable and status.engine == engine
        runs[engine] = ase.io.read(out, index=":")
    return runs


def _rdf(frames):
    return compute_rdf(frames, rmax=6.0, bins=60, blocks=8)


def _block_mean(values, blocks: int = 8) -> tuple[float, float]:
    means = [np.mean(b) for b in np.array_split(np.asarray(values), blocks)]
    return float(np.mean(means)), float(np.std(means, ddof=1) / np.sqrt(blocks))


def test_reference_melt_is_charge_ordered(reference_runs):
    # Structure that follows from the model, not from recalled literature values: in an ionic
    # melt the unlike ions are nearest neighbours and like ions sit in the second shell, and
    # the first shell holds fewer ions than the rocksalt crystal's 6 and more than a gas's.
    # Peaks are located on g(r) smoothed over 0.25 A.
    rdf = compute_rdf(reference_runs["lammps"], rmax=6.0, bins=120)
    peak = {p: rdf.r[np.argmax(np.convolve(rdf.g[p], np.ones(5) / 5, mode="same"))]
            for p in ("Na-Cl", "Na-Na", "Cl-Cl")}
    assert peak["Na-Na"] > 1.3 * peak["Na-Cl"] and peak["Cl-Cl"] > 1.3 * peak["Na-Cl"]
    first_minimum = rdf.r[(rdf.r > peak["Na-Cl"])][np.argmin(
        rdf.g["Na-Cl"][rdf.r > peak["Na-Cl"]][: int(1.0 / rdf.dr)])]
    assert 3.5 < rdf.coordination("Na-Cl", first_minimum) < 6.0
    # Charge ordering: the unlike peak is the tallest by far.
    assert rdf.g["Na-Cl"].max() > 1.5 * max(rdf.g["Na-Na"].max(), rdf.g["Cl-Cl"].max())
    # Like ions keep apart: no Na-Na pair inside 2.2 A, and g_NaNa first exceeds 0.01 beyond
    # 2.5 A. Below that rise lies the region where F3 looks for non-physical peaks.
    assert rdf.g["Na-Na"][rdf.r < 2.2].max() == 0
    assert compare_with_reference(rdf, rdf, "Na-Na")["r_rise"] > 2.5


def test_ase_and_lammps_agree_within_their_statistical_errors(reference_runs):
    temps, rdfs = {}, {}
    for engine, frames in reference_runs.items():
        temps[engine] = _block_mean([f.info["temperature"] for f in frames])
        rdfs[engine] = _rdf(frames)
        mean, err = temps[engine]
        # Each thermostat holds 1400 K (3N - 3 degrees of freedom in both).
        assert abs(mean - 1400.0) < 3.5 * err, (engine, mean, err)
    (ta, ea), (tl, el) = temps["ase"], temps["lammps"]
    assert abs(ta - tl) < 3.5 * np.hypot(ea, el)
    a, b = rdfs["ase"], rdfs["lammps"]
    for pair in ("Na-Cl", "Na-Na", "Cl-Cl"):
        sel = (a.r > 2.0) & (a.err[pair] ** 2 + b.err[pair] ** 2 > 0)  # bins with pairs
        z2 = (a.g[pair] - b.g[pair])[sel] ** 2 / (a.err[pair] ** 2 + b.err[pair] ** 2)[sel]
        # Mean z^2 is about 1.3 for 8-block errors (Student t, 7 degrees of freedom);
        # a systematic difference of one error bar would make it 2.3 or more.
        assert np.mean(z2) < 2.2, pair
        assert a.coordination(pair, 3.4 if pair == "Na-Cl" else 5.0) == pytest.approx(
            b.coordination(pair, 3.4 if pair == "Na-Cl" else 5.0), rel=0.03)


def test_nve_conserves_energy_with_the_reference(melt, tmp_path):
    out = tmp_path / "nve.extxyz"
    run_md(melt, out, md_settings(thermostat="nve", timestep_fs=1.0, time_ps=1.0, stride=10),
           model="reference", calculator=BMHTF(**REFERENCE), progress=False)
    frames = ase.io.read(out, index=":")
    potential = np.array([f.get_potential_energy() for f in frames])
    total = potential + np.array([f.get_kinetic_energy() for f in frames])
    n = len(frames[0])
    # Potential and kinetic energy exchange about 0.05 eV per ion; their sum stays within
    # 1 meV per ion and its scatter is under 2% of theirs.
    assert np.ptp(potential) / n > 0.02
    assert np.ptp(total) / n < 1e-3
    assert np.std(total) < 0.02 * np.std(potential)


class Collapsing(Calculator):
    """A deliberately broken NaCl potential: the Coulomb attraction of the ions (truncated at
    6 A, no Ewald sum) without the short-range repulsion that keeps them apart."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        q = np.where(self.atoms.numbers == 11, 1.0, -1.0)
        nl = vesin.NeighborList(cutoff=6.0, full_list=False)
        i, j, d, vec = nl.compute(self.atoms.positions, self.atoms.cell[:], True, "ijdD")
        qq = 14.399645 * q[i] * q[j]
        pair_force = (qq / d**3)[:, None] * vec  # force on j from i
        forces = np.zeros((len(q), 3))
        np.add.at(forces, j, pair_force)
        np.add.at(forces, i, -pair_force)
        self.results = {"energy": float(np.sum(qq * (1 / d - 1 / 6.0))), "forces": forces}


class Harmonic(Calculator):
    """Ions on springs to their starting sites: stable and cheap. With ``nan_after`` calls it
    starts returning NaN forces; with ``interrupt_after`` it raises KeyboardInterrupt."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, sites, nan_after=None, interrupt_after=None):
        super().__init__()
        self.sites, self.calls = np.array(sites), 0
        self.nan_after, self.interrupt_after = nan_after, interrupt_after

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        if self.interrupt_after is not None and self.calls > self.interrupt_after:
            raise KeyboardInterrupt
        u = self.atoms.positions - self.sites
        forces = -2.0 * u
        if self.nan_after is not None and self.calls > self.nan_after:
            forces[0] = np.nan
        self.results = {"energy": float(np.sum(u**2)), "forces": forces}


def _shortest(atoms) -> float:
    nl = vesin.NeighborList(cutoff=6.0, full_list=False)
    (d,) = nl.compute(atoms.get_positions(wrap=True), atoms.cell[:], True, "d")
    return float(d.min())


def test_guard_stops_a_collapsing_potential_and_the_verb_exits_cleanly(
        melt, tmp_path, monkeypatch, make_profile, capsys):
    # Through the md verb with a "model directory" whose calculator is the broken potential.
    # The collapse also heats the ions; a lenient temperature limit lets the distance guard,
    # the one this potential is about, fire first.
    class Broken:
        family, species = "broken", (11, 17)
        manifest = {"family": "broken", "size": "any", "seed": 0, "train": {},
                    "species": [11, 17]}

        def calculator(self):
            return Collapsing()

        def batched(self):
            return None

    monkeypatch.setattr("mlipselect.models.load_model", lambda directory: Broken())
    start, out = tmp_path / "start.extxyz", tmp_path / "broken.extxyz"
    ase.io.write(start, melt)
    profile = make_profile(md={"max_temperature_factor": 20.0})
    assert main(["md", str(tmp_path / "model"), "--config", profile, "--start", str(start),
                 "--time-ps", "5", "--stride", "5", "--out", str(out), "--no-progress"]) == 0
    log = capsys.readouterr().out
    status = read_status(out)
    assert not status.stable and "shortest distance" in status.reason
    assert status.potential["family"] == "broken"  # what drove the run, for the report
    assert 0 < status.time_ps < 5.0
    assert status.reason in log and f"{status.time_ps:g} ps" in log
    frames = ase.io.read(out, index=":")
    assert len(frames) == status.frames >= 2
    assert frames[-1].info["time"] == pytest.approx(status.time_ps * 1000)
    assert _shortest(frames[-1]) < 1.5 < _shortest(frames[0])
    assert not out.with_name(out.name + ".partial").exists()


def test_guard_checks():
    guard = Guard(min_distance=1.5, max_temperature=2800.0)
    masses = np.full(64, 30.0)
    rng = np.random.default_rng(0)
    for target in (1400.0, 4000.0):
        momenta = rng.normal(size=(64, 3)) * np.sqrt(masses[:, None] * 8.617333e-5 * target)
        momenta -= momenta.mean(axis=0)
        t = temperature(momenta, masses)
        assert t == pytest.approx(target, rel=0.25)
        reason = guard.check_fast(0.0, np.zeros((64, 3)), momenta, masses)
        assert (reason is None) == (target < 2800), reason
    assert "non-finite" in guard.check_fast(np.nan, np.zeros((64, 3)), momenta, masses)
    cell = np.eye(3) * 10.0
    pair = np.array([[0.2, 0.0, 0.0], [9.5, 0.0, 0.0]])  # 0.7 A apart across the boundary
    assert "0.70 A" in guard.check_distance(pair, cell)
    assert guard.check_distance(np.array([[0.2, 0.0, 0.0], [5.5, 0.0, 0.0]]), cell) is None


def test_non_finite_forces_stop_the_run_and_keep_the_finite_frames(melt, tmp_path):
    out = tmp_path / "nan.extxyz"
    status = run_md(melt, out, md_settings(time_ps=1.0, stride=10), model="nan",
                    calculator=Harmonic(melt.positions, nan_after=25), progress=False).status
    assert not status.stable and "non-finite" in status.reason
    assert status.steps == 25  # the 25th step's forces (26th call) are not finite
    frames = ase.io.read(out, index=":")
    assert [f.info["md_step"] for f in frames] == [0, 10, 20]
    assert all(np.isfinite(f.get_forces()).all() for f in frames)
    assert json.loads(status_path(out).read_text()) == read_status(out).to_json()


def test_interrupted_run_resumes_where_it_stopped(melt, tmp_path):
    settings = md_settings(thermostat="nve", time_ps=0.2, stride=10)
    whole, resumed = tmp_path / "whole.extxyz", tmp_path / "resumed.extxyz"
    run_md(melt, whole, settings, model="springs", calculator=Harmonic(melt.positions),
           progress=False)
    with pytest.raises(KeyboardInterrupt):
        run_md(melt, resumed, settings, model="springs",
               calculator=Harmonic(melt.positions, interrupt_after=45), progress=False)
    partial = resumed.with_name(resumed.name + ".partial")
    assert partial.exists() and not resumed.exists()
    # Frames at steps 0..40 are kept; the interruption came during step 45.
    assert len(ase.io.read(partial, index=":", format="extxyz")) == 5
    with pytest.raises(InputError, match="other settings"):
        run_md(melt, resumed, replace(settings, stride=5), model="springs",
               calculator=Harmonic(melt.positions), progress=False)
    run = run_md(melt, resumed, settings, model="springs",
                 calculator=Harmonic(melt.positions), progress=False)
    assert run.status.stable and run.status.frames == 11 and not partial.exists()
    assert (run.outcome.computed, run.outcome.reused) == (60, 40)  # steps 40..100 run now
    a, b = ase.io.read(whole, index=":"), ase.io.read(resumed, index=":")
    steps = list(range(0, 101, 10))
    assert [f.info["md_step"] for f in b] == [f.info["md_step"] for f in a] == steps
    # NVE resumes exactly (up to the 8 decimals extxyz keeps).
    np.testing.assert_allclose(b[-1].positions, a[-1].positions, atol=1e-5)
    np.testing.assert_allclose(b[-1].get_momenta(), a[-1].get_momenta(), atol=1e-5)


def test_a_finished_run_is_kept_and_another_run_is_refused(melt, tmp_path):
    settings = md_settings(thermostat="nve", time_ps=0.1, stride=10)
    out = tmp_path / "run.extxyz"

    def md(overwrite=False, **changes):
        return run_md(melt, out, replace(settings, **changes), model="springs",
                      calculator=Harmonic(melt.positions), progress=False, overwrite=overwrite)

    first = md()
    data, status = out.read_bytes(), status_path(out).read_bytes()
    again = md()
    assert again.outcome.already and not first.outcome.already
    assert again.status == first.status
    assert (out.read_bytes(), status_path(out).read_bytes()) == (data, status)
    with pytest.raises(InputError, match="result of other work.*--overwrite"):
        md(stride=5)
    assert out.read_bytes() == data
    assert md(stride=5, overwrite=True).status.frames == 11 and out.read_bytes() != data


def test_same_seed_same_trajectory(melt, tmp_path):
    def positions(seed, name):
        out = tmp_path / name
        run_md(melt, out, md_settings(time_ps=0.1, stride=25, seed=seed), model="springs",
               calculator=Harmonic(melt.positions), progress=False)
        return ase.io.read(out, index=-1).positions

    np.testing.assert_array_equal(positions(7, "a.extxyz"), positions(7, "b.extxyz"))
    assert not np.allclose(positions(7, "a.extxyz"), positions(8, "c.extxyz"))


def test_md_verb_with_the_reference(melt, tmp_path, make_profile, capsys):
    start, out = tmp_path / "start.extxyz", tmp_path / "ref.extxyz"
    ase.io.write(start, [melt, melt])
    profile = make_profile(reference=REFERENCE)
    assert main(["md", "reference", "--config", profile, "--start", str(start),
                 "--time-ps", "0.1", "--out", str(out), "--no-progress"]) == 0
    assert "completed 0.1 ps" in capsys.readouterr().out
    frames = ase.io.read(out, index=":")
    assert len(frames) == 6  # smoke profile: a frame every 10 steps of 2 fs
    last = frames[-1]
    assert last.get_momenta().any() and np.isfinite(last.get_forces()).all()
    assert last.get_potential_energy() < 0 and last.info["time"] == pytest.approx(100.0)
    assert read_status(out).settings.temperature == 1400.0
    # A model directory cannot run inside LAMMPS; a directory that is no model is named.
    assert main(["md", str(tmp_path), "--engine", "lammps", "--start", str(start),
                 "--out", str(tmp_path / "x.extxyz")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["md", str(tmp_path / "empty"), "--start", str(start),
                 "--out", str(tmp_path / "x.extxyz")]) == 2
    said = capsys.readouterr()
    assert f"{tmp_path / 'empty'}: not a model directory" in said.err
    assert said.out == ""  # nothing said to run before the inputs were found wanting
