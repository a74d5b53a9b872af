"""Potentials: trained briefly on 64-ion BMHTF frames, they learn the forces, their forces are
minus the gradient of their energy, they survive a save/load, a seed reproduces training, and
bad input fails with one clear message."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from mlipselect.analysis.metrics import energy_errors, force_errors, uncertainty_metrics
from mlipselect.cli import main
from mlipselect.config import MD, complete_profile, defaults, load_profile
from mlipselect.errors import InputError
from mlipselect.models import (
    families,
    family_settings,
    load_model,
    read_training_frames,
    train_model,
)
from mlipselect.models.base import frame_labels
from mlipselect.pool.frames_io import write_frames

# Small but not trivial: enough to learn the forces well within a few seconds each.
SETTINGS = {
    "nn": {"sizes": {"small": {"features": 16, "interactions": 2, "cutoff": 5.0, "rbf": 12}},
           "epochs": 30, "lr": 2e-3, "batch_size": 2, "patience": 30},
    "gpr": {"sizes": {"soap": {"cutoff": 5.0, "max_radial": 5, "max_angular": 3,
                               "sparse_points": 100}}},
}


@pytest.fixture(scope="module")
def frames(smoke_pool, tmp_path_factory):
    """Crystal (800 K) and melt (1400 K) frames of 64 ions: (train, test, train file)."""
    path = tmp_path_factory.mktemp("frames") / "all.extxyz"
    assert main(["export", str(smoke_pool), "--out", str(path)]) == 0
    every = read_training_frames(path)
    train, test = every[::2], every[1::2]
    train_path = path.with_name("train.extxyz")
    write_frames(train, train_path)
    return train, test, train_path


@pytest.fixture(scope="module")
def profile():
    return complete_profile({"train": SETTINGS}, "test settings")


def with_training(profile, **families):
    """``profile`` with some keys of its families' ``train`` settings changed."""
    return replace(profile, train={family: {**settings, **families.get(family, {})}
                                   for family, settings in profile.train.items()})


@pytest.fixture(scope="module", params=["nn", "gpr"])
def trained(request, frames, profile, tmp_path_factory):
    """(family, model directory, the model as returned by training)."""
    out = tmp_path_factory.mktemp(request.param) / "model"
    model = train_model(request.param, frames[0], profile, out, seed=0, progress=False).model
    return request.param, out, model


def predictions(model, frames):
    pred = [model.predict(a) for a in frames]
    ref = [frame_labels(a) for a in frames]
    return pred, ref


def test_models_beat_the_zero_force_baseline_on_held_out_frames(trained, frames):
    family, _, model = trained
    pred, ref = predictions(model, frames[1])
    forces = force_errors(np.concatenate([p[1] for p in pred]),
                          np.concatenate([r[1] for r in ref]))
    assert forces["atoms"] == 64 * len(frames[1])
    # The zero-force model's RMSE is the RMS force (about 0.5 eV/A here).
    assert forces["rmse"] < 0.4 * forces["reference_rms"], (family, forces)
    assert forces["mae"] < 0.4 * np.abs(np.concatenate([r[1] for r in ref])).mean()
    energies = energy_errors([p[0] for p in pred], [r[0] for r in ref], [64] * len(pred))
    # Energies per atom vary by ~0.1 eV between crystal and melt; the model follows them.
    spread = np.std([r[0] / 64 for r in ref])
    assert energies["rmse"] < 0.5 * spread, (family, energies, spread)


def test_retraining_the_same_model_returns_the_saved_one(trained, frames, profile):
    family, out, model = trained
    again = train_model(family, frames[0], profile, out, seed=0, progress=False)
    assert again.outcome.already and again.outcome.computed == 0
    assert again.model.manifest == model.manifest
    np.testing.assert_array_equal(again.model.predict(frames[1][0])[1],
                                  model.predict(frames[1][0])[1])


def test_forces_are_minus_the_gradient_of_the_energy(trained, frames, numeric_force):
    family, directory, _ = trained
    model = load_model(directory)
    if family == "nn":
        model.network.double()  # float32 rounding would swamp the finite difference
    atoms = frames[1][-1].copy()
    atoms.calc = model.calculator()
    forces = atoms.get_forces()
    for index, axis in [(0, 0), (17, 1), (40, 2), (63, 0)]:
        assert numeric_force(atoms, index, axis, 1e-4) == pytest.approx(
            forces[index, axis], rel=1e-5, abs=1e-6), family


def copper(count: int, seed: int = 0) -> list[Atoms]:
    """EMT-labelled copper, rattled: fcc(111) slabs (open along z, 12 A of vacuum) and
    icosahedral clusters (open in every direction), alternately."""
    from ase.build import fcc111
    from ase.calculators.emt import EMT
    from ase.cluster import Icosahedron

    rng = np.random.default_rng(seed)
    frames = []
    for k in range(count):
        atoms = Icosahedron("Cu", 2) if k % 2 else fcc111("Cu", (2, 2, 3), vacuum=6.0)
        atoms.positions += rng.normal(scale=0.1, size=atoms.positions.shape)
        atoms.calc = EMT()
        labels = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
        atoms.calc = SinglePointCalculator(atoms, **labels)
        frames.append(atoms)
    return frames


@pytest.mark.parametrize("family", ["nn", "gpr"])
def test_slabs_and_clusters_see_no_images_along_their_open_directions(family, profile,
                                                                      tmp_path, numeric_force):
    """Trained on slabs and clusters, a model gives a cluster the energy and forces it gives
    the same cluster in a periodic box wider than its cutoff, and a slab those of the slab
    made periodic across its vacuum: no image is seen where the cell is open. Its forces are
    minus the gradient of its energy there too."""
    path = tmp_path / "copper.extxyz"
    write_frames(copper(12), path)
    model = train_model(family, read_training_frames(path), profile, tmp_path / "model",
                        seed=0, progress=False).model
    if family == "nn":
        model.network.double()  # float32 rounding would swamp the finite difference
    slab, cluster = copper(2, seed=1)
    assert slab.pbc.tolist() == [True, True, False] and not cluster.pbc.any()
    boxed_cluster = Atoms(cluster.numbers, cluster.positions + 15.0, cell=[30.0] * 3, pbc=True)
    boxed_slab = Atoms(slab.numbers, slab.positions, cell=slab.cell, pbc=True)
    for atoms, boxed in ((cluster, boxed_cluster), (slab, boxed_slab)):
        energy, forces = model.predict(atoms)
        same_energy, same_forces = model.predict(boxed)
        assert energy == pytest.approx(same_energy, rel=1e-9)
        np.testing.assert_allclose(forces, same_forces, atol=1e-9 * np.abs(forces).max())
        atoms.calc = model.calculator()
        for index, axis in [(0, 0), (5, 2), (11, 1)]:
            assert numeric_force(atoms, index, axis, 1e-4) == pytest.approx(
                forces[index, axis], rel=1e-5, abs=1e-6)


def test_training_refuses_a_periodic_direction_without_a_cell_vector(tmp_path):
    atoms = copper(1)[0]
    atoms.pbc = True
    atoms.cell[2] = 0.0
    write_frames([atoms], tmp_path / "flat.extxyz")
    with pytest.raises(InputError, match=r"frame 0: periodic .* along a cell vector of no len"):
        read_training_frames(tmp_path / "flat.extxyz")


def test_nn_predictions_are_schnetpacks_own(trained, frames):
    """Predictions share each pair's filter between its two directions; schnetpack's forward,
    with every pair listed twice, gives the same numbers (float64: to rounding)."""
    import torch

    from mlipselect.models.nn import collate, frame_inputs

    family, directory, _ = trained
    if family != "nn":
        pytest.skip("a SchNet evaluation")
    model = load_model(directory)
    model.network.double()
    for atoms in frames[1][:3]:
        energy, forces = model.predict(atoms)
        inputs = collate([frame_inputs(atoms, model.manifest["settings"]["cutoff"])],
                         torch.float64, torch.device("cpu"))
        out = model.network(inputs)
        assert energy == pytest.approx(out["energy"].item(), rel=1e-12)
        np.testing.assert_allclose(forces, out["forces"].detach().numpy(), atol=1e-10)


@pytest.mark.parametrize("family", ["nn", "gpr"])
def test_fit_leaves_the_manifest_it_is_given_as_it_is(family, frames, profile, tmp_path):
    from mlipselect.models.base import _family_class

    settings = family_settings(profile, family)
    if family == "nn":
        settings.update(epochs=2, patience=2)
    given = {"family": family, "size": settings["size"], "seed": 0, "species": [11, 17],
             "settings": settings}
    before = copy.deepcopy(given)
    model = _family_class(family).fit(frames[0][:6], given, tmp_path, progress=False)
    assert given == before and model.manifest["fit"] and "fit" not in given


def test_the_registry_says_which_families_batch_md():
    from mlipselect.models.base import Potential, _family_class

    for family, entry in families().items():
        assert entry.batches_md == (_family_class(family).batched is not Potential.batched)


def test_save_then_load_predicts_the_same_numbers(trained, frames):
    family, directory, model = trained
    loaded = load_model(directory)
    assert loaded.manifest == json.loads((directory / "model.json").read_text())
    assert loaded.manifest["family"] == family and loaded.species == (11, 17)
    for atoms in frames[1][:3]:
        e0, f0 = model.predict(atoms)
        e1, f1 = loaded.predict(atoms)
        assert e1 == pytest.approx(e0, rel=1e-12)
        np.testing.assert_allclose(f1, f0, rtol=1e-12, atol=1e-12)
    calc = loaded.calculator()
    atoms = frames[1][0].copy()
    atoms.calc = calc
    np.testing.assert_allclose(atoms.get_forces(), loaded.predict(atoms)[1])
    atoms.numbers[0] = 19
    with pytest.raises(InputError, match=f"species K not in the {family} model's"):
        atoms.get_potential_energy()


def test_nn_training_writes_a_loss_log_and_stops_early(frames, profile, tmp_path):
    settings = with_training(profile, nn={"epochs": 200, "patience": 2, "lr": 0.5})  # diverges
    model = train_model("nn", frames[0][:6], settings, tmp_path / "m", seed=1,
                        progress=False).model
    rows = (tmp_path / "m" / "loss.csv").read_text().splitlines()
    assert rows[0].split(",")[:3] == ["epoch", "train_loss", "val_loss"]
    assert len(rows) - 1 == model.manifest["fit"]["epochs"] < 200
    assert model.manifest["fit"]["train_frames"] + model.manifest["fit"]["val_frames"] == 6


@pytest.mark.parametrize("family", ["nn", "gpr"])
def test_a_seed_reproduces_a_cpu_training_run(family, frames, profile, tmp_path):
    settings = with_training(profile, nn={"epochs": 3}, gpr={"sparse_method": "random"})
    runs = [train_model(family, frames[0][:8], settings, tmp_path / f"m{seed}-{k}", seed=seed,
                        progress=False).model for k, seed in enumerate((5, 5, 6))]
    atoms = frames[1][0]
    (e_a, f_a), (e_b, f_b), (e_c, f_c) = (m.predict(atoms) for m in runs)
    assert e_a == e_b
    np.testing.assert_array_equal(f_a, f_b)
    assert not np.allclose(f_a, f_c)


def test_train_and_evaluate_commands(frames, tmp_path, capsys):
    _, test, train_path = frames
    test_path = tmp_path / "test.extxyz"
    write_frames(test, test_path)
    model_dir, metrics_path = tmp_path / "gpr", tmp_path / "metrics.json"
    assert main(["train", "--model", "gpr", "--profile", "smoke", "--train", str(train_path),
                 "--seed", "3", "--out", str(model_dir), "--quiet"]) == 0
    manifest = json.loads((model_dir / "model.json").read_text())
    assert manifest["size"] == "soap" and manifest["seed"] == 3
    assert manifest["fit"]["seconds"] > 0 and manifest["fit"]["peak_memory_mb"] > 0
    assert main(["evaluate", str(model_dir), "--test", str(test_path), "--out",
                 str(metrics_path), "--quiet"]) == 0
    metrics = json.loads(metrics_path.read_text())
    assert metrics["frames"] == len(test) and metrics["atoms"] == 64 * len(test)
    assert set(metrics["per_species"]) == {"Na", "Cl"}
    f = metrics["forces"]
    assert 0 < f["mae"] < f["rmse"] <= f["max"] <= f["max_atom"]
    assert f["rmse"] < f["reference_rms"]
    assert metrics["units"] == {"forces": "eV/A", "energy_per_atom": "eV/atom"}
    # The metrics are those of the model's own predictions.
    pred, ref = predictions(load_model(model_dir), test)
    expected = force_errors(np.concatenate([p[1] for p in pred]),
                            np.concatenate([r[1] for r in ref]))
    assert f["rmse"] == pytest.approx(expected["rmse"], rel=1e-9)
    # The GPR's own uncertainty: each atom's predicted energy std against its force error,
    # ranked among the atoms of each frame and among the frames by their largest.
    from scipy.stats import spearmanr

    std = [np.sqrt(load_model(model_dir).energy_variance(a)) for a in test]
    error = [np.linalg.norm(p[1] - r[1], axis=1) for p, r in zip(pred, ref, strict=True)]
    u = metrics["uncertainty"]
    assert u["energy_std_mean"] == pytest.approx(np.concatenate(std).mean(), rel=1e-9)
    assert u["energy_std_max"] == pytest.approx(np.concatenate(std).max(), rel=1e-9)
    within = np.mean([spearmanr(s, e)[0] for s, e in zip(std, error, strict=True)])
    assert u["rank_within_frames"] == pytest.approx(within, rel=1e-9)
    between = spearmanr([s.max() for s in std], [e.max() for e in error])[0]
    assert u["rank_between_frames"] == pytest.approx(between, rel=1e-9)
    out = capsys.readouterr().out
    assert "-> " in out and "rank correlation with the force error" in out


def test_nn_training_says_which_device_it_used(frames, tmp_path, capsys):
    import torch

    _, _, train_path = frames
    assert main(["train", "--model", "nn", "--profile", "smoke", "--train", str(train_path),
                 "--out", str(tmp_path / "nn"), "--quiet"]) == 0
    device = json.loads((tmp_path / "nn" / "model.json").read_text())["fit"]["device"]
    said = capsys.readouterr().out
    if torch.cuda.is_available():
        assert device == "cuda" and " on cuda in " in said
    else:
        assert device == "cpu" and " on the CPU (torch sees no GPU) in " in said


def test_force_metrics_by_hand():
    reference = np.zeros((2, 3))
    predicted = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, -1.0]])
    m = force_errors(predicted, reference)
    assert m["mae"] == pytest.approx(8 / 6)
    assert m["rmse"] == pytest.approx(np.sqrt(26 / 6))
    assert m["max"] == 4.0 and m["max_atom"] == 5.0 and m["reference_rms"] == 0.0
    e = energy_errors([-10.0, -9.0], [-10.5, -9.0], [5, 3])
    assert e["mae"] == pytest.approx(0.05) and e["max"] == pytest.approx(0.1)


def test_uncertainty_ranks_atoms_within_frames_apart_from_frames():
    """Three frames (say three state points) whose atoms rank perfectly within each frame,
    while the frame with the largest uncertainty has the smallest errors: pooled, the atoms
    would correlate negatively; each way on its own is exact."""
    std = [np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0]), np.array([7.0, 8.0, 9.0])]
    error = [np.array([30.0, 31.0, 32.0]), np.array([20.0, 21.0, 22.0]),
             np.array([10.0, 11.0, 12.0])]
    reference = [np.zeros((3, 3))] * 3
    predicted = [np.column_stack([e, 0 * e, 0 * e]) for e in error]
    u = uncertainty_metrics([s**2 for s in std], predicted, reference)
    assert u["rank_within_frames"] == pytest.approx(1.0)
    assert u["rank_between_frames"] == pytest.approx(-1.0)
    assert u["energy_std_mean"] == pytest.approx(5.0) and u["energy_std_max"] == 9.0
    # two frames rank nothing; a frame with one uncertainty for every atom ranks nothing
    two = uncertainty_metrics([np.ones(3), std[1] ** 2], predicted[:2], reference[:2])
    assert two["rank_between_frames"] is None and two["rank_within_frames"] == pytest.approx(1.0)


def test_bad_input_fails_with_one_clear_message(frames, tmp_path, capsys):
    train, _, train_path = frames
    no_forces = tmp_path / "no_forces.extxyz"
    bare = [Atoms(a.numbers, a.positions, cell=a.cell, pbc=True) for a in train[:2]]
    for atoms in bare:
        atoms.info["energy"] = -300.0
    write_frames(bare, no_forces)
    assert main(["train", "--model", "nn", "--profile", "smoke", "--train", str(no_forces),
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "frame 0: no 'forces' label" in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()

    assert main(["train", "--model", "nn", "--profile", "smoke", "--train", str(train_path),
                 "--size", "huge", "--out", str(tmp_path / "x")]) == 2
    assert "no nn size named 'huge' (known: small)" in capsys.readouterr().err

    model_dir = tmp_path / "gpr"
    assert main(["train", "--model", "gpr", "--profile", "smoke", "--train", str(train_path),
                 "--out", str(model_dir), "--quiet"]) == 0
    potassium = train[0].copy()
    potassium.numbers[5] = 19
    energy, forces = frame_labels(train[0])
    potassium.calc = SinglePointCalculator(potassium, energy=energy, forces=forces)
    alien = tmp_path / "alien.extxyz"
    write_frames([train[1], potassium], alien)
    assert main(["evaluate", str(model_dir), "--test", str(alien), "--out",
                 str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    assert ("alien.extxyz, frame 1: species K not in the gpr model's training species "
            "(Na, Cl)") in err
    assert not (tmp_path / "m.json").exists()
    with pytest.raises(InputError, match="species K"):
        load_model(model_dir).calculator().get_forces(potassium)


def test_a_named_size_resolves_over_the_family_defaults(make_profile):
    # A profile that names its own sizes and one training setting: the chosen size's keys
    # replace 'sizes', the profile's setting wins, the rest comes from the defaults.
    path = make_profile(train={"nn": {"sizes": {"tiny": {"features": 8, "interactions": 1,
                                                         "cutoff": 4.0, "rbf": 6},
                                               "wide": {"features": 96, "interactions": 2,
                                                        "cutoff": 5.0, "rbf": 16}},
                                      "epochs": 7}})
    profile = load_profile(path)
    wide = family_settings(profile, "nn", "wide")
    assert (wide["size"], wide["features"], wide["cutoff"], wide["epochs"]) == ("wide", 96, 5.0, 7)
    assert wide["lr_patience"] == defaults().train["nn"]["lr_patience"] and "sizes" not in wide
    assert family_settings(profile, "nn")["size"] == "tiny"  # the first listed by default
    with pytest.raises(InputError, match="no nn size named 'huge' \\(known: tiny, wide\\)"):
        family_settings(profile, "nn", "huge")
    broken = make_profile(train={"nn": {"sizes": {"odd": {"features": 8}}}})
    with pytest.raises(InputError,
                       match=r"sizes.odd: missing keys \['cutoff', 'interactions', 'rbf'\]"):
        family_settings(load_profile(broken), "nn")


@pytest.mark.parametrize("trained", ["gpr"], indirect=True)
def test_gpr_prediction_is_the_fitted_linear_model(trained, frames):
    """predict contracts the weights early; the design rows the fit used give the same."""
    _, _, model = trained
    atoms = frames[1][2]
    energy, forces = model.predict(atoms)
    energy_row, force_rows = model.design(atoms)
    base_energy, base_forces = model.baseline(atoms)
    assert energy == pytest.approx(base_energy + energy_row @ model.alpha, rel=1e-12)
    np.testing.assert_allclose(forces.ravel(), base_forces.ravel() + force_rows @ model.alpha,
                               atol=1e-10)
    assert np.any(model.pair_weights)  # the pair term is part of the fit


@pytest.mark.parametrize("trained", ["gpr"], indirect=True)
def test_gpr_variance_is_the_projected_process_one(trained, frames):
    _, directory, model = trained
    st = model.manifest["settings"]
    delta2, zeta = st["delta"] ** 2, st["zeta"]
    # The posterior precision the fit kept is K_mm (jittered) and the pair prior plus the
    # data rows of every training frame, each over its noise.
    kmm = np.zeros((len(model.prior),) * 2)
    for s, cols in model._columns.items():
        kmm[cols, cols] = delta2 * (model.sparse[s] @ model.sparse[s].T) ** zeta
    values, vectors = np.linalg.eigh(kmm)
    values = np.maximum(values, st["jitter"] * delta2)
    precision = np.zeros_like(model.posterior.T @ model.posterior)
    m = len(kmm)
    precision[:m, :m] = vectors @ np.diag(values) @ vectors.T
    precision[m:, m:] = np.eye(len(precision) - m) / st["pair_sigma"] ** 2
    for atoms in frames[0]:
        energy_row, force_rows = model.design(atoms)
        sigma_e = st["energy_sigma"] * np.sqrt(len(atoms))
        precision += np.outer(energy_row, energy_row) / sigma_e**2
        precision += force_rows.T @ force_rows / st["forces_sigma"] ** 2
    np.testing.assert_allclose(model.posterior.T @ model.posterior, precision, rtol=1e-7,
                               atol=1e-9 * np.abs(precision).max())
    # The variance of each atom, with explicit inverses.
    atoms = frames[1][0]
    expected = np.zeros(len(atoms))
    inverse, kmm_inverse = np.linalg.inv(precision), np.linalg.pinv(vectors @ np.diag(values)
                                                                    @ vectors.T)
    for s, (index, x, _, _) in model.soap.compute(atoms, gradients=False).items():
        k = np.zeros((len(index), len(precision)))
        k[:, model._columns[s]] = delta2 * (x @ model.sparse[s].T) ** zeta
        expected[index] = (delta2 - np.einsum("ij,jk,ik->i", k[:, :m], kmm_inverse, k[:, :m])
                           + np.einsum("ij,jk,ik->i", k, inverse, k))
    np.testing.assert_allclose(model.energy_variance(atoms), expected, rtol=1e-6)
    # Away from the training environments it grows, up to the prior; it survives a reload.
    odd = atoms.copy()
    odd.positions += np.random.default_rng(0).normal(0, 0.35, odd.positions.shape)
    far = model.energy_variance(odd)
    assert np.median(model.energy_variance(frames[0][0])) < np.median(far) <= delta2
    np.testing.assert_array_equal(load_model(directory).energy_variance(odd), far)


@pytest.mark.parametrize("trained", ["gpr"], indirect=True)
def test_gpr_contracted_form_equals_the_sparse_point_form(trained, frames):
    from mlipselect.models.gpr import SparseGPRPotential

    _, _, model = trained
    atoms = frames[1][1]
    energy, forces = model.predict(atoms)
    features = next(iter(model.sparse.values())).shape[1]
    # The same model with every sparse point repeated until they outnumber the features
    # (weights shared among the copies): its predictions use the contracted matrix.
    k = features // min(len(x) for x in model.sparse.values()) + 1
    copy = SparseGPRPotential(model.manifest, {s: np.tile(x, (k, 1)) for s, x in
                                               model.sparse.items()},
                              {s: np.tile(w, k) / k for s, w in model.weights.items()},
                              model.e0, model.pair_weights)
    assert all(copy.contracted(s) is not None for s in copy.species)
    assert all(model.contracted(s) is None for s in model.species)
    energy_c, forces_c = copy.predict(atoms)
    assert energy_c == pytest.approx(energy, rel=1e-12, abs=1e-9)
    np.testing.assert_allclose(forces_c, forces, atol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("trained", ["gpr"], indirect=True)
def test_gpr_keeps_a_1400K_melt_stable_for_5_ps(trained, frames, tmp_path):
    from mlipselect.md import run_md

    _, _, model = trained
    melt = [a for a in frames[1] if a.info["temperature"] > 1100][-1]  # not the 800 K crystal
    settings = MD(temperature=1400.0, time_ps=5.0, stride=50)
    status = run_md(melt, tmp_path / "md.extxyz", settings, model="gpr",
                    calculator=model.calculator(), progress=False).status
    assert status.stable, status.reason
    assert status.time_ps == pytest.approx(5.0)
