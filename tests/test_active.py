"""Selection by a model's uncertainty and active learning: the batch kernels against brute
force, the model scores against their definitions, the methods held to the selection contract
through the API and the command line, and `mlipselect learn`'s rounds, resume and errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from mlipselect.active.learn import learn, round_sizes, rounds_directory
from mlipselect.active.scores import committee_spread, gradient_features, predicted_spread
from mlipselect.cli import main
from mlipselect.config import complete_profile, load_profile
from mlipselect.errors import InputError
from mlipselect.models import load_model, read_training_frames, train_model
from mlipselect.models.base import training_key
from mlipselect.pool.frames_io import iread_frames
from mlipselect.provenance import recorded
from mlipselect.selection import select
from mlipselect.selection.batch import lcmd, max_det, max_dist, top_apart
from mlipselect.selection.contract import awkward_pools, check_selection_method

TINY = {"nn": {"sizes": {"tiny": {"features": 8, "interactions": 1, "cutoff": 4.0, "rbf": 8}},
               "epochs": 2, "batch_size": 4, "patience": 2},
        "gpr": {"sizes": {"tiny": {"cutoff": 4.0, "max_radial": 3, "max_angular": 2,
                                   "sparse_points": 20}}}}


# --- the kernels, against brute force -------------------------------------------------------

def brute_max_dist(g, n, selected):
    """Each pick the row farthest from the picks and the origin."""
    picked = list(selected)
    while len(picked) < n:
        d = np.array([min([np.sum(g[i] ** 2)] + [np.sum((g[i] - g[j]) ** 2) for j in picked])
                      if i not in picked else -1 for i in range(len(g))])
        picked.append(int(np.argmax(d)))
    return picked


def brute_max_det(g, n, selected):
    """Each pick the row that makes the picks' Gram determinant largest."""
    picked = list(selected)
    while len(picked) < n:
        dets = [np.linalg.det(g[picked + [i]] @ g[picked + [i]].T) if i not in picked
                else -1 for i in range(len(g))]
        picked.append(int(np.argmax(dets)))
    return picked


def brute_lcmd(g, n, selected):
    picked = list(selected) or [int(np.argmax((g ** 2).sum(1)))]
    while len(picked) < n:
        d2 = np.array([[np.sum((g[i] - g[c]) ** 2) for c in picked] for i in range(len(g))])
        owner, nearest = d2.argmin(1), d2.min(1)
        free = [i for i in range(len(g)) if i not in picked]
        size = {c: sum(nearest[i] for i in free if owner[i] == c) for c in range(len(picked))}
        c = max(size, key=lambda k: (size[k], -k))
        members = [i for i in free if owner[i] == c]
        picked.append(max(members, key=lambda i: (nearest[i], -i)))
    return picked


@pytest.mark.parametrize("kernel, brute", [(max_dist, brute_max_dist),
                                           (max_det, brute_max_det), (lcmd, brute_lcmd)])
@pytest.mark.parametrize("selected", [(), (3, 11)])
def test_batch_active_learning_kernels_pick_what_their_definitions_pick(kernel, brute, selected):
    g = np.random.default_rng(4).normal(size=(30, 6))
    n = 6 if kernel is max_det else 12  # max_det: within the features' rank
    picks = kernel(g, n, selected=list(selected) or None)
    assert picks.tolist() == brute(g, n, list(selected))


def test_max_det_goes_on_by_distance_once_the_picks_span_the_features():
    g = np.random.default_rng(5).normal(size=(20, 3))
    picks = max_det(g, 8)
    assert len(set(picks.tolist())) == 8
    assert picks[:3].tolist() == brute_max_det(g, 3, [])
    assert picks.tolist() == max_dist(g, 8, selected=picks[:3]).tolist()


def test_top_apart_takes_scores_in_order_but_never_two_picks_within_the_separation():
    x = np.array([[0.0], [0.1], [5.0], [5.1], [10.0]])
    score = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    assert top_apart(score, 3, x, separation=1.0).tolist() == [0, 2, 4]
    assert top_apart(score, 3).tolist() == [0, 1, 2]  # no separation: by score alone
    # a selected frame keeps its neighbours out too; when none is far enough, score decides
    assert top_apart(score, 4, x, separation=1.0, selected=[2]).tolist() == [2, 0, 4, 1]


# --- models and their scores ---------------------------------------------------------------

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two tiny networks and a tiny GPR trained on the contract's ordinary pool (Cu, Ni)."""
    frames = awkward_pools()["ordinary"][0]
    profile = complete_profile({"train": TINY}, "tiny")
    root = tmp_path_factory.mktemp("models")
    nets = [root / f"nn{k}" for k in range(2)]
    for k, out in enumerate(nets):
        train_model("nn", frames, profile, out, seed=k, progress=False)
    train_model("gpr", frames, profile, root / "gpr", progress=False)
    return {"nn": nets, "gpr": root / "gpr"}


def test_committee_spread_is_the_largest_per_atom_force_deviation(models):
    frames = awkward_pools()["ordinary"][0][:5]
    nets = [load_model(p) for p in models["nn"]]
    forces, energy = committee_spread(nets, frames)
    for k, atoms in enumerate(frames):
        predicted = [net.predict(atoms) for net in nets]
        f = np.stack([p[1] for p in predicted])
        per_atom = np.sqrt(((f - f.mean(0)) ** 2).sum(2).mean(0))
        assert forces[k] == pytest.approx(per_atom.max(), rel=1e-6)
        assert energy[k] == pytest.approx(np.std([p[0] / len(atoms) for p in predicted]),
                                          rel=1e-6, abs=1e-12)


def test_many_frames_in_one_call_predict_what_one_frame_at_a_time_does(models):
    net = load_model(models["nn"][0])
    frames = awkward_pools()["ordinary"][0]
    together = list(net.predict_many(frames))
    for atoms, (energy, forces) in zip(frames, together, strict=True):
        alone = net.predict(atoms)
        assert energy == pytest.approx(alone[0], rel=1e-5)
        np.testing.assert_allclose(forces, alone[1], atol=1e-5)


def test_gradient_features_are_the_energy_gradient_of_the_last_layer(models):
    from mlipselect.models.nn import _images

    net = load_model(models["nn"][0])
    atoms = awkward_pools()["ordinary"][0][2]
    (features,) = list(net.gradient_features([atoms]))
    evaluate = net.batched()
    numbers, positions, pair_i, pair_j, offsets, _, n_atoms = _images([atoms], evaluate)
    atomwise, scale = net.network.output_modules[:2]
    last = atomwise.outnet[-1]
    weight, bias = (p.detach().clone().requires_grad_() for p in (last.weight, last.bias))
    with torch.enable_grad():
        x = evaluate._representation(numbers, positions.to(evaluate.dtype), pair_i, pair_j,
                                     offsets)
        per_atom = torch.nn.functional.linear(atomwise.outnet[:-1](x), weight, bias)
        energy = scale.scale * per_atom.sum() + scale.shift * n_atoms.sum()
        gradient = torch.autograd.grad(energy, [weight, bias])
    # the energy written with the last layer's parameters is the network's own
    assert energy.item() == pytest.approx(net.predict(atoms)[0], rel=1e-5)
    expected = torch.cat([g.flatten() for g in gradient]).double().numpy()
    np.testing.assert_allclose(features[0], expected, rtol=1e-4, atol=1e-5)


def test_gpr_spread_is_the_root_of_its_largest_atomic_variance(models):
    gpr = load_model(models["gpr"])
    frames = awkward_pools()["ordinary"][0][:3]
    spread = predicted_spread(gpr, frames)
    for s, atoms in zip(spread, frames, strict=True):
        assert s == pytest.approx(np.sqrt(gpr.energy_variance(atoms).max()))


def test_a_family_without_the_score_says_so(models):
    frames = awkward_pools()["ordinary"][0][:2]
    with pytest.raises(InputError, match="no last-layer-gradient features"):
        gradient_features([load_model(models["gpr"])], frames)
    with pytest.raises(InputError, match="predicts no variance"):
        predicted_spread(load_model(models["nn"][0]), frames)


# --- the methods keep the selection contract -----------------------------------------------

@pytest.mark.parametrize("method, options", [
    ("committee", {"score": "forces"}), ("committee", {"score": "energy", "separation": 0.0}),
    ("gpr-variance", {}), ("bal", {"mode": "max_dist"}), ("bal", {"mode": "max_det"}),
    ("bal", {"mode": "lcmd"})])
def test_uncertainty_methods_keep_the_selection_contract(models, method, options):
    spec = {"committee": ",".join(map(str, models["nn"])), "gpr-variance": str(models["gpr"]),
            "bal": str(models["nn"][0])}[method]
    check_selection_method(method, models=spec, **options)
    frames, excluded, _ = awkward_pools()["ordinary"]  # not a contract kept by refusing
    assert len(select(frames, method, 4, exclude=excluded, models=spec, **options)) == 4


def test_committee_picks_the_frames_its_members_disagree_on_most(models):
    frames = awkward_pools()["ordinary"][0]
    spec = ",".join(map(str, models["nn"]))
    forces, _ = committee_spread([load_model(p) for p in models["nn"]], frames)
    chosen = select(frames, "committee", 3, models=spec, separation=0.0)
    assert chosen.tolist() == np.argsort(-forces, kind="stable")[:3].tolist()


def test_uncertainty_methods_refuse_what_they_cannot_use(models):
    frames = awkward_pools()["ordinary"][0]
    with pytest.raises(InputError, match="2 or more models"):
        select(frames, "committee", 2, models=str(models["nn"][0]))
    with pytest.raises(InputError, match="needs a model"):
        select(frames, "bal", 2)
    with pytest.raises(InputError, match="takes 1 model"):
        select(frames, "gpr-variance", 2, models=f"{models['gpr']},{models['gpr']}")
    with pytest.raises(InputError, match="same model twice"):
        select(frames, "committee", 2, models=f"{models['nn'][0]},{models['nn'][0]}")
    with pytest.raises(InputError, match=r"no directory matches .*/nope-\*"):
        select(frames, "bal", 2, models=f"{models['nn'][0]},{models['gpr'].parent}/nope-*")


def test_direct_extends_into_strata_the_selection_leaves_empty():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], float)
    x = np.concatenate([c + rng.normal(0, 0.3, (10, 2)) for c in centres])
    from mlipselect.selection.structure import strata

    first = [0, 1]  # both in the first cluster
    grown = strata(x, 5, selected=first)
    assert grown[:2].tolist() == first
    assert sorted({int(i) // 10 for i in grown[2:]}) == [1, 2, 3]


# --- the command line and active learning --------------------------------------------------

@pytest.fixture(scope="module")
def tiny_profile(tmp_path_factory):
    import yaml

    path = tmp_path_factory.mktemp("profile") / "tiny.yaml"
    path.write_text(yaml.safe_dump({
        "train": TINY, "active": {"start_fraction": 0.5, "rounds": 2, "models": {
            "committee": {"family": "nn", "size": "tiny", "count": 2},
            "gpr-variance": {"family": "gpr", "size": "tiny", "count": 1},
            "bal": {"family": "nn", "size": None, "count": 1}}}}))
    return str(path)


def test_select_by_a_committee_from_the_command_line_extends_a_selection(smoke_pool, tmp_path,
                                                                          models, capsys):
    first = tmp_path / "first.extxyz"
    assert main(["select", str(smoke_pool), "--method", "random", "-n", "4",
                 "--out", str(first)]) == 0
    out = tmp_path / "grown.extxyz"
    # models trained on other species refuse the pool's Na and Cl by name
    assert main(["select", str(smoke_pool), "--method", "committee", "-n", "6",
                 "--models", ",".join(map(str, models["nn"])), "--extend", str(first),
                 "--out", str(out)]) == 2
    assert "species" in capsys.readouterr().err
    nets = []
    training = list(iread_frames(first))
    profile = complete_profile({"train": TINY}, "tiny")
    for k in range(2):
        nets.append(tmp_path / f"m{k}")
        train_model("nn", training, profile, nets[-1], seed=k, progress=False)
    assert main(["select", str(smoke_pool), "--method", "committee", "-n", "6",
                 "--models", str(tmp_path / "m*"), "--extend", str(first),
                 "--out", str(out)]) == 0
    frames = list(iread_frames(out))
    assert [a.info["selection_method"] for a in frames] == ["random"] * 4 + ["committee"] * 2
    assert len({a.info["pool_index"] for a in frames}) == 6


def test_learn_runs_rounds_and_writes_one_selection(smoke_pool, tmp_path, tiny_profile):
    profile = load_profile(tiny_profile)
    out = tmp_path / "committee.extxyz"
    rounds = learn(smoke_pool, "committee", 8, out, profile, seed=3, progress=False)
    assert [r.frames for r in rounds] == round_sizes(8, 0.5, 2) == [4, 6, 8]
    assert [len(r.models) for r in rounds] == [0, 2, 2]
    frames = list(iread_frames(out))
    start = select(str(smoke_pool), "random", 4, seed=3)
    assert [int(a.info["pool_index"]) for a in frames[:4]] == start.tolist()
    assert [int(a.info["active_round"]) for a in frames] == [0] * 4 + [1] * 2 + [2] * 2
    assert recorded(frames)["method"] == "committee" and recorded(frames)["n"] == 8
    # trained on the frames of the round before, with the labels of the pool
    assert load_model(rounds[2].models[0]).manifest["train"]["frames"] == 6


def test_learn_resumes_from_the_last_finished_round(smoke_pool, tmp_path, tiny_profile):
    profile = load_profile(tiny_profile)
    out = tmp_path / "bal.extxyz"
    rounds = learn(smoke_pool, "bal", 8, out, profile, progress=False)
    kept = rounds[1].models[0].stat().st_mtime_ns
    out.unlink()
    rounds[2].selection.unlink()  # as if stopped before the last round's selection
    again = learn(smoke_pool, "bal", 8, out, profile, progress=False)
    assert again[1].models[0].stat().st_mtime_ns == kept  # not trained again
    assert [int(a.info["pool_index"]) for a in iread_frames(out)] == \
        [int(a.info["pool_index"]) for a in iread_frames(again[2].selection)]
    # finished: a rerun does nothing; other settings start the rounds afresh
    assert learn(smoke_pool, "bal", 8, out, profile, progress=False)[2].frames == 8
    other = complete_profile({"train": TINY, "active": {**profile.section("active"),
                                                        "rounds": 1}}, "tiny")
    assert [r.frames for r in learn(smoke_pool, "bal", 8, out, other, progress=False,
                                    overwrite=True)] == [4, 8]
    assert not (rounds_directory(out) / "round-2.extxyz").exists()


def test_bootstrap_members_train_on_their_own_resamples(smoke_pool, tmp_path, tiny_profile):
    profile = load_profile(tiny_profile)
    models = {**profile.active.models,
              "committee": {"family": "nn", "size": "tiny", "count": 2, "bootstrap": True}}
    profile = complete_profile({"train": TINY, "active": {**profile.section("active"),
                                                          "models": models}}, "tiny")
    rounds = learn(smoke_pool, "committee", 8, tmp_path / "c.extxyz", profile, progress=False)
    training = read_training_frames(rounds[0].selection)
    for k, member in enumerate(rounds[1].models):
        manifest = load_model(member).manifest
        draw = np.random.default_rng(k).integers(0, len(training), len(training))
        resample = [training[i] for i in draw]
        assert manifest["work"] == training_key("nn", manifest["settings"], k, resample)
        assert manifest["work"] != training_key("nn", manifest["settings"], k, training)


def test_learn_trains_on_the_labellers_labels_through_its_cache(smoke_pool, tmp_path):
    (tmp_path / "ljcalc.py").write_text(
        "from ase.calculators.lj import LennardJones\n"
        "def make():\n    return LennardJones(sigma=2.8, epsilon=0.05, rc=5.0)\n")
    profile = complete_profile({
        "train": TINY, "label": {"calculator": f"{tmp_path / 'ljcalc.py'}:make"},
        "active": {"models": {"gpr-variance": {"family": "gpr", "size": "tiny", "count": 1}}}},
        "lj")
    rounds = learn(smoke_pool, "gpr-variance", 8, tmp_path / "g.extxyz", profile, seed=1,
                   label_cache=tmp_path / "labels", progress=False)
    from ase.calculators.lj import LennardJones

    for r in rounds[:-1]:
        labelled = list(iread_frames(r.selection.with_name(r.selection.stem
                                                           + ".labelled.extxyz")))
        assert len(labelled) == r.frames
        for atoms in labelled[:2]:
            lj = atoms.copy()
            lj.calc = LennardJones(sigma=2.8, epsilon=0.05, rc=5.0)
            assert atoms.get_potential_energy() == pytest.approx(lj.get_potential_energy())
    model = load_model(rounds[2].models[0])
    assert model.manifest["train"]["source"].endswith("round-1.labelled.extxyz")
    assert (tmp_path / "labels").is_dir()


def test_learn_refuses_a_method_without_models_and_a_directory_it_did_not_make(
        smoke_pool, tmp_path, tiny_profile, capsys):
    assert main(["learn", str(smoke_pool), "--method", "fps", "-n", "8", "--config",
                 tiny_profile, "--out", str(tmp_path / "x.extxyz")]) == 2
    assert "no models to learn with" in capsys.readouterr().err
    rounds_directory(tmp_path / "y.extxyz").mkdir()
    (rounds_directory(tmp_path / "y.extxyz") / "notes.txt").write_text("mine")
    assert main(["learn", str(smoke_pool), "--method", "gpr-variance", "-n", "8", "--config",
                 tiny_profile, "--quiet", "--out", str(tmp_path / "y.extxyz")]) == 2
    assert "not clearing it" in capsys.readouterr().err
    assert (rounds_directory(tmp_path / "y.extxyz") / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("active, message", [
    ({"initial": "nope"}, "active.initial"),
    ({"models": {"committee": {"family": "svm", "size": None, "count": 3}}}, "no model family"),
    ({"models": {"committee": {"family": "nn", "size": "huge", "count": 3}}}, "no nn size"),
    ({"models": {"committee": {"family": "nn", "size": None, "count": 0}}}, "count"),
    ({"rounds": 0}, "active.rounds"),
])
def test_a_bad_active_section_names_what_is_wrong(active, message):
    with pytest.raises(InputError, match=message):
        complete_profile({"active": active}, "bad")


def test_round_sizes_leave_every_round_a_frame():
    for n, fraction, rounds in itertools.product([3, 8, 64], [0.1, 0.5, 0.9], [1, 2]):
        sizes = round_sizes(n, fraction, rounds)
        assert sizes[-1] == n and all(b > a for a, b in itertools.pairwise(sizes))
    with pytest.raises(InputError, match="cannot be split"):
        round_sizes(2, 0.5, 2)
