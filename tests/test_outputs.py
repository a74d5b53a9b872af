"""What mlipselect writes: outputs are never replaced, mixed or written into inputs unasked;
resumable work resumes only from the same work and a rerun of finished work does nothing;
formats follow extensions; files get the user's umask; interrupted verbs keep what they say
they keep; bad input is a one-line message. docs/writing.md states these guarantees."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import ase.io
import h5py
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from mlipselect import __version__
from mlipselect.cli import main
from mlipselect.io import umask
from mlipselect.label import label_file
from mlipselect.pool.frames_io import export_pool
from mlipselect.pool.store import Pool, PoolError, PoolFormatWarning
from mlipselect.reference.calculator import BMHTF

SENTINEL = b"the user's own data\n"


def copper_frames(path, count=4):
    """Labelled copper frames (EMT), as a user's own trajectory would be."""
    frames = []
    for k in range(count):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
        atoms.rattle(0.05, seed=k)
        atoms.calc = EMT()
        atoms.get_forces()
        frames.append(atoms)
    ase.io.write(path, frames, format="extxyz")
    return path


def run(*argv) -> int:
    return main([str(a) for a in argv])


@pytest.fixture
def user_files(tmp_path, smoke_pool):
    """A copper trajectory, a NaCl pool, frames of it, and a test-set index."""
    cu = copper_frames(tmp_path / "cu.extxyz")
    frames = tmp_path / "nacl.extxyz"
    export_pool(smoke_pool, frames, indices=range(3))
    idx = tmp_path / "test.idx"
    assert run("split", smoke_pool, "--out", idx) == 0
    return {"cu": cu, "pool": smoke_pool, "frames": frames, "idx": idx, "dir": tmp_path}


def verb_outputs(f):
    """Each writing verb, with an output path; ``{out}`` is replaced by that path."""
    d = f["dir"]
    return {
        "import": (["import", f["cu"], "--out", "{out}"], d / "cu.h5"),
        "merge": (["merge", f["pool"], f["pool"], "--out", "{out}"], d / "merged.h5"),
        "export": (["export", f["pool"], "--out", "{out}", "--indices", f["idx"]],
                   d / "test.extxyz"),
        "split": (["split", f["pool"], "--out", "{out}"], d / "other.idx"),
        "select": (["select", f["pool"], "--method", "energy", "-n", "3", "--out", "{out}"],
                   d / "sel.extxyz"),
        "label": (["label", f["frames"], "--config", "smoke", "--out", "{out}"],
                  d / "labelled.extxyz"),
        "rdf": (["rdf", f["frames"], "--out", "{out}"], d / "g.csv"),
    }


@pytest.mark.parametrize("verb", ["import", "merge", "export", "split", "select", "label",
                                  "rdf"])
def test_an_existing_output_is_refused_untouched_and_replaced_with_overwrite(
        user_files, verb, capsys):
    argv, out = verb_outputs(user_files)[verb]
    out.write_bytes(SENTINEL)
    argv = [str(out) if a == "{out}" else a for a in argv]
    assert run(*argv) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "--overwrite" in err and err.count("\n") == 1
    assert out.read_bytes() == SENTINEL
    assert run(*argv, "--overwrite") == 0
    assert out.read_bytes() != SENTINEL


def test_a_forgotten_output_never_turns_an_input_into_a_pool(user_files, capsys):
    # `mlipselect import a.extxyz b.extxyz` meant two inputs: b.extxyz must survive.
    second = user_files["dir"] / "b.extxyz"
    second.write_bytes(SENTINEL)
    for extra in ([], ["--overwrite"]):
        with pytest.raises(SystemExit) as stop:
            run("import", user_files["cu"], second, *extra)
        assert stop.value.code == 2
        assert "the following arguments are required: --out" in capsys.readouterr().err
        assert second.read_bytes() == SENTINEL
        assert run("import", user_files["cu"], "--out", second, *extra) == 2
        assert "must end in .h5 or .hdf5" in capsys.readouterr().err
        assert second.read_bytes() == SENTINEL


def test_a_verb_never_writes_into_its_own_input(user_files, capsys):
    frames, pool = user_files["frames"], user_files["pool"]
    before = frames.read_bytes(), pool.read_bytes()
    assert run("label", frames, "--config", "smoke", "--out", frames, "--overwrite") == 2
    assert run("merge", pool, pool, "--out", pool, "--overwrite") == 2
    assert run("rdf", frames, "--out", frames, "--overwrite") == 2
    err = capsys.readouterr().err
    assert err.count("is also an input of this command") == 3
    assert (frames.read_bytes(), pool.read_bytes()) == before


class FailsOnThird(BMHTF):
    """The reference, failing on its third frame: a calculation that broke off."""

    calls = 0

    def calculate(self, *args, **kwargs):
        FailsOnThird.calls += 1
        if FailsOnThird.calls == 3:
            raise RuntimeError("SCF did not converge")
        super().calculate(*args, **kwargs)


def test_label_resumes_only_the_same_work(user_files, smoke_pool):
    d = user_files["dir"]
    first, second = d / "first.extxyz", d / "second.extxyz"
    export_pool(smoke_pool, first, indices=range(4))
    export_pool(smoke_pool, second, indices=range(4, 8))
    out, partial = d / "out.extxyz", d / "out.extxyz.partial"
    settings = {"cutoff": 5.5, "accuracy": 1e-4}
    FailsOnThird.calls = 0
    with pytest.raises(ValueError, match="frame 2: the calculator failed"):
        label_file(first, out, FailsOnThird(**settings), progress=False)
    kept = partial.read_bytes()
    # Another input, or another calculator (class or parameters), must not be appended.
    for inp, calc in ((second, FailsOnThird(**settings)), (first, BMHTF(**settings)),
                      (first, FailsOnThird(cutoff=5.0, accuracy=1e-4))):
        with pytest.raises(ValueError, match="partial result of other work"):
            label_file(inp, out, calc, progress=False)
    assert partial.read_bytes() == kept and not out.exists()
    # The same work resumes after the two frames it has.
    done = label_file(first, out, FailsOnThird(**settings), progress=False)
    assert (done.computed, done.reused) == (2, 2)
    labelled = ase.io.read(out, ":")
    assert len(labelled) == 4 and not partial.exists()
    # A rerun of the finished work does nothing; other work is refused; --overwrite redoes.
    before = out.stat().st_mtime_ns
    assert label_file(first, out, FailsOnThird(**settings), progress=False).already
    assert out.stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="other work"):
        label_file(second, out, FailsOnThird(**settings), progress=False)
    assert out.stat().st_mtime_ns == before
    done = label_file(second, out, BMHTF(**settings), overwrite=True, progress=False)
    assert (done.computed, done.reused, done.already) == (4, 0, False)
    assert [a.get_potential_energy() for a in ase.io.read(out, ":")] != [
        a.get_potential_energy() for a in labelled]


def test_label_cut_off_mid_frame_resumes_after_the_last_complete_frame(user_files, smoke_pool):
    d = user_files["dir"]
    frames, out = d / "four.extxyz", d / "out.extxyz"
    export_pool(smoke_pool, frames, indices=range(4))
    FailsOnThird.calls = 0
    with pytest.raises(ValueError):
        label_file(frames, out, FailsOnThird(cutoff=5.5, accuracy=1e-4), progress=False)
    partial = d / "out.extxyz.partial"
    whole = partial.read_bytes()
    partial.write_bytes(whole + whole[: len(whole) // 3])  # a write a kill cut short
    calc = FailsOnThird(cutoff=5.5, accuracy=1e-4)  # past its failure: a plain reference now
    done = label_file(frames, out, calc, progress=False)
    assert (done.computed, done.reused) == (2, 2)
    reference = d / "reference.extxyz"
    label_file(frames, reference, calc, progress=False)
    assert out.read_bytes() == reference.read_bytes()


def test_output_format_follows_the_extension(user_files, capsys):
    d = user_files["dir"]
    traj = d / "labelled.traj"
    assert run("label", user_files["frames"], "--config", "smoke", "--out", traj) == 0
    frames = ase.io.read(traj, ":")  # ASE reads it as a trajectory
    assert len(frames) == 3 and "energies" in frames[0].calc.results
    assert run("label", user_files["frames"], "--config", "smoke", "--out", traj) == 0
    assert "nothing to do" in capsys.readouterr().out  # the key survives the .traj format
    argv = ["select", user_files["pool"], "--method", "energy", "-n", "3", "--out"]
    assert run(*argv, d / "sel.idx") == 2
    assert run("export", user_files["pool"], "--out", d / "x.h5") == 2
    err = capsys.readouterr().err.splitlines()
    assert "the extension '.idx' cannot hold 3 frames with their labels" in err[-2]
    assert ".h5 is a pool's extension" in err[-1]
    # formats that would lose the labels or where a frame came from are refused
    for lossy in ("sel.pdb", "sel.cif", "sel.db"):
        assert run(*argv, d / lossy) == 2
        assert "cannot hold 3 frames with their labels and provenance; use extxyz" in \
            capsys.readouterr().err
    assert not [p for p in d.iterdir() if p.name.startswith(("sel.", ".sel.", "x.h5"))]


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_outputs_get_the_users_umask(user_files, mask):
    d = user_files["dir"]
    old = os.umask(mask)
    try:
        outputs = {"import": d / "cu.h5", "select": d / "sel.extxyz", "split": d / "other.idx",
                   "label": d / "labelled.extxyz", "export": d / "test.extxyz"}
        for verb, (argv, out) in verb_outputs(user_files).items():
            if verb in outputs:
                assert run(*[str(out) if a == "{out}" else a for a in argv]) == 0
        for out in outputs.values():
            assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask, out
    finally:
        os.umask(old)


def test_errors_are_one_line_messages(user_files, capsys):
    d = user_files["dir"]
    pool = user_files["pool"]
    for argv in (["select", pool, "--method", "energy", "-n", "3", "--seed", "-1", "--out",
                  d / "s.extxyz"],
                 ["split", pool, "--seed", "-4", "--out", d / "t.idx"]):
        with pytest.raises(SystemExit) as exit_:
            run(*argv)
        assert exit_.value.code == 2
        assert "outside 0 .. 4294967295" in capsys.readouterr().err
    # An extxyz given where a pool is expected: say how to make one.
    assert run("select", user_files["cu"], "--method", "random", "-n", "2", "--out",
               d / "s.extxyz") == 2
    assert "mlipselect import" in capsys.readouterr().err


def _damaged_copy(pool, tmp_path, column: str):
    """A copy of ``pool`` with one bit flipped in the first stored chunk of ``column``."""
    with h5py.File(pool) as h5:
        offset = h5[column].id.get_chunk_info(0).byte_offset
    data = bytearray(pool.read_bytes())
    data[offset + 5] ^= 0x04
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(bytes(data))
    return damaged


@pytest.mark.parametrize("column", ["frames/energy", "offsets", "atoms/positions"])
def test_a_damaged_pool_is_named_by_column(user_files, column, capsys):
    damaged = _damaged_copy(user_files["pool"], user_files["dir"], column)
    out = user_files["dir"] / "x.extxyz"
    assert run("export", damaged, "--out", out) == 2
    err = capsys.readouterr().err
    assert f"column '{column}' is damaged" in err and err.count("\n") == 1
    assert not out.exists()
    if column == "frames/energy":  # a selection that reads the damaged column fails too
        assert run("select", damaged, "--method", "energy", "-n", "3", "--out", out) == 2
        assert f"column '{column}' is damaged" in capsys.readouterr().err


def test_selection_reads_only_the_columns_its_method_uses(user_files):
    # The energy column is damaged: the per-atom methods never read it, 'energy' does.
    damaged = _damaged_copy(user_files["pool"], user_files["dir"], "frames/energy")
    from mlipselect.selection import select

    assert len(select(damaged, "atomic-energies", 3)) == 3
    with pytest.raises(PoolError, match="column 'frames/energy' is damaged"):
        select(damaged, "energy", 3)


def test_a_pool_of_the_first_format_reads_and_merge_upgrades_it(user_files, tmp_path):
    old = tmp_path / "old.h5"
    with h5py.File(user_files["pool"]) as src, h5py.File(old, "w") as dst:
        dst.attrs["metadata"] = src.attrs["metadata"]
        for name in ("offsets", *(f"frames/{k}" for k in src["frames"]),
                     *(f"atoms/{k}" for k in src["atoms"])):
            dst.create_dataset(name, data=src[name][()], chunks=True)  # format 1: no checksums
    with pytest.warns(PoolFormatWarning, match="`mlipselect merge` rewrites it"):
        with Pool(old) as pool:
            energy = pool.energy
    assert run("merge", old, "--out", tmp_path / "new.h5") == 0
    with Pool(tmp_path / "new.h5") as new, Pool(user_files["pool"]) as current:
        assert new.format_version == 2
        np.testing.assert_array_equal(new.energy, energy)
        assert new.checksum() == current.checksum()  # the content's checksum, not the file's


def write_calculator_module(directory, name="mycalc", body="return EMT()"):
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(f"""\
        from ase.calculators.emt import EMT

        def make():
            {body}
        """))
    return path


def test_calculators_from_a_path_or_a_module_in_the_working_directory(user_files, monkeypatch,
                                                                       capsys):
    d = user_files["dir"]
    write_calculator_module(d)
    monkeypatch.chdir(d)
    assert run("label", "cu.extxyz", "--calculator", "./mycalc.py:make", "--out", "a.extxyz") == 0
    assert run("label", "cu.extxyz", "--calculator", "mycalc:make", "--out", "b.extxyz") == 0
    a, b = ase.io.read(d / "a.extxyz", ":"), ase.io.read(d / "b.extxyz", ":")
    assert [x.get_potential_energy() for x in a] == [x.get_potential_energy() for x in b]
    write_calculator_module(d, "notcalc", body="return 42")
    assert run("label", "cu.extxyz", "--calculator", "notcalc.py:make", "--out", "c.extxyz") == 2
    assert "make() returned a int, not an ASE calculator" in capsys.readouterr().err


def test_the_default_reference_refuses_other_species_before_any_work(user_files, capsys):
    out = user_files["dir"] / "x.extxyz"
    assert run("label", user_files["cu"], "--out", out) == 2
    err = capsys.readouterr().err
    assert "frame 0: holds Cu" in err and "BMHTF NaCl" in err and "--calculator" in err
    assert not out.exists() and not (user_files["dir"] / "x.extxyz.partial").exists()


def test_version_help_and_counts(user_files, capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"mlipselect {__version__}"
    with pytest.raises(SystemExit):
        main(["split", "--help"])
    assert "else 0.2" in capsys.readouterr().out  # the default is stated
    assert run("select", user_files["pool"], "--method", "random", "-n", "2", "--exclude",
               user_files["idx"], "--out", user_files["dir"] / "s.extxyz") == 0
    with Pool(user_files["pool"]) as pool:
        total = len(pool)
    held = len(user_files["idx"].read_text().splitlines()) - 1
    assert (f"2 of {total - held} candidate frames" in capsys.readouterr().err)


def test_every_verb_takes_the_common_options_one_way():
    """A profile as --profile (or --config), an output as --out, progress silenced by --quiet
    (or --no-progress): whichever verb it is."""
    import importlib

    from mlipselect.cli import VERBS, build_parser

    subparsers = next(a for a in build_parser()._actions if a.dest == "verb").choices
    for verb in VERBS:
        module = importlib.import_module(f"mlipselect.commands.{verb}_cmd")
        options = {s for a in subparsers[verb]._actions for s in a.option_strings}
        assert ({"--profile", "--config"} <= options) == hasattr(module, "PROFILE"), verb
        assert ({"--quiet", "--no-progress"} <= options) == getattr(module, "PROGRESS", False)
        if getattr(module, "WRITES", True):
            assert {"--out", "--overwrite"} <= options, verb
        assert not {"-q", "--json", "--no-overwrite"} & options, verb


def _start(argv, cwd, env=None):
    return subprocess.Popen([sys.executable, "-m", "mlipselect.cli", *map(str, argv)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=env)


def _wait_for(condition, proc, timeout=120.0):
    end = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_label_run_killed_midway_resumes_to_the_uninterrupted_result(user_files, sig,
                                                                       slow_calculator):
    d = user_files["dir"]
    frames = copper_frames(d / "cu8.extxyz", count=8)
    # A calculator slow enough to be caught mid-run: EMT that sleeps per frame.
    argv = ["label", frames, "--calculator", slow_calculator, "--out", "out.extxyz"]
    proc = _start(argv, d)
    partial = d / "out.extxyz.partial"
    _wait_for(lambda: partial.exists() and partial.read_bytes().count(b"Lattice") >= 3, proc)
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert not (d / "out.extxyz").exists()
    if sig == signal.SIGINT:
        assert "the frames labelled so far are kept in out.extxyz.partial" in err
    kept = partial.read_bytes().count(b"Lattice")
    assert 3 <= kept < 8
    resumed = subprocess.run([sys.executable, "-m", "mlipselect.cli", *map(str, argv)], cwd=d,
                             capture_output=True, text=True, check=True)
    assert f"({kept} more resumed from the partial result)" in resumed.stdout
    once = subprocess.run([sys.executable, "-m", "mlipselect.cli", *map(str, argv[:-1]),
                           "once.extxyz"], cwd=d, capture_output=True, text=True, check=True)
    assert once.returncode == 0
    assert (d / "out.extxyz").read_bytes() == (d / "once.extxyz").read_bytes()


def test_an_interrupted_import_says_that_nothing_was_written(tmp_path):
    big = copper_frames(tmp_path / "cu.extxyz", count=4)
    ase.io.write(big, ase.io.read(big, ":") * 1500, format="extxyz")  # 6000 frames
    proc = _start(["import", big, "--out", "pool.h5"], tmp_path)
    _wait_for(lambda: list(tmp_path.glob(".pool.h5.*.part")), proc)
    time.sleep(0.5)  # into the frames
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "interrupted; nothing was written" in err, err
    assert not (tmp_path / "pool.h5").exists() and not list(tmp_path.glob(".pool.h5.*"))


def test_model_training_reruns_do_nothing_and_other_work_is_refused(user_files, smoke_pool,
                                                                    capsys):
    d = user_files["dir"]
    frames = d / "train.extxyz"
    export_pool(smoke_pool, frames, indices=range(6))
    argv = ["train", "--model", "gpr", "--profile", "smoke", "--train", frames, "--quiet",
            "--out", d / "model"]
    assert run(*argv) == 0
    manifest = (d / "model" / "model.json").read_bytes()
    assert stat.S_IMODE((d / "model").stat().st_mode) == 0o777 & ~umask()
    assert run(*argv) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert (d / "model" / "model.json").read_bytes() == manifest
    assert run(*argv[:-2], "--seed", "1", "--out", d / "model") == 2
    assert "result of other work" in capsys.readouterr().err
    assert (d / "model" / "model.json").read_bytes() == manifest


def test_an_unfinished_pool_writer_leaves_what_was_there(user_files):
    from mlipselect.pool.store import PoolWriter

    out = user_files["dir"] / "pool.h5"
    out.write_bytes(SENTINEL)
    with pytest.raises(RuntimeError), PoolWriter(out) as writer:
        for atoms in ase.io.iread(user_files["cu"]):
            writer.append(atoms)
        raise RuntimeError("killed")
    assert out.read_bytes() == SENTINEL
    assert sorted(p.name for p in user_files["dir"].glob(".pool.h5*")) == []
    with pytest.raises(PoolError, match="not a pool file|cannot read as a pool"):
        Pool(out)


def test_two_processes_never_write_one_output(user_files, slow_calculator):
    d = user_files["dir"]
    frames = copper_frames(d / "cu40.extxyz", count=40)  # 12 s: outlasts the second's start
    argv = ["label", frames, "--calculator", slow_calculator, "--out", "out.extxyz"]
    first = _start(argv, d)
    _wait_for(lambda: (d / "out.extxyz.partial").exists(), first)
    # a second writer of the same output, with other frames, with and without --overwrite
    for extra in ([], ["--overwrite"]):
        second = subprocess.run([sys.executable, "-m", "mlipselect.cli", "label",
                                 str(user_files["cu"]), "--calculator", slow_calculator,
                                 "--out", "out.extxyz", *extra], cwd=d, capture_output=True,
                                text=True)
        assert second.returncode == 2
        assert "out.extxyz: another process is writing it" in second.stderr
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert len(ase.io.read(d / "out.extxyz", ":")) == 40
    assert not [p.name for p in d.iterdir() if p.name.startswith(".out.extxyz")]


def test_an_output_that_appears_while_a_command_runs_is_left_alone(user_files, slow_calculator):
    d = user_files["dir"]
    frames = copper_frames(d / "cu8.extxyz", count=8)
    argv = ["label", frames, "--calculator", slow_calculator, "--out", "out.extxyz"]
    proc = _start(argv, d)
    _wait_for(lambda: (d / "out.extxyz.partial").exists(), proc)
    (d / "out.extxyz").write_bytes(SENTINEL)  # the user's own file, made meanwhile
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "out.extxyz: appeared while this command ran; left untouched" in err
    assert (d / "out.extxyz").read_bytes() == SENTINEL
    # the labelled frames are kept: --overwrite finishes the same work without redoing it
    assert (d / "out.extxyz.partial").read_bytes().count(b"Lattice") == 8
    resumed = subprocess.run([sys.executable, "-m", "mlipselect.cli", *map(str, argv),
                              "--overwrite"], cwd=d, capture_output=True, text=True, check=True)
    assert "labelled 0 frames (8 more resumed" in resumed.stdout


def test_a_pool_that_appears_during_an_import_is_left_alone(user_files):
    from mlipselect.io import OutputExistsError, claim_output
    from mlipselect.io import release as release_claim
    from mlipselect.pool.store import PoolWriter

    out = user_files["dir"] / "pool.h5"
    assert claim_output(out, overwrite=False) is False
    try:
        with pytest.raises(OutputExistsError, match="appeared while this command ran"), \
                PoolWriter(out) as writer:
            for atoms in ase.io.iread(user_files["cu"]):
                writer.append(atoms)
            out.write_bytes(SENTINEL)
    finally:
        release_claim(out)
    assert out.read_bytes() == SENTINEL
    assert not list(user_files["dir"].glob(".pool.h5*"))


def test_no_output_is_written_inside_a_directory_the_command_reads(user_files, smoke_pool,
                                                                   capsys):
    d = user_files["dir"]
    model = d / "model"
    model.mkdir()
    (model / "model.json").write_bytes(SENTINEL)
    assert run("evaluate", model, "--test", user_files["frames"], "--out",
               model / "model.json", "--overwrite") == 2
    assert "model.json lies inside" in capsys.readouterr().err
    assert (model / "model.json").read_bytes() == SENTINEL
    # training into a model directory that holds its own training frames
    export_pool(smoke_pool, model / "train.extxyz", indices=range(4))
    assert run("train", "--model", "gpr", "--profile", "smoke", "--train",
               model / "train.extxyz", "--out", model, "--overwrite", "--quiet") == 2
    assert "lies inside" in capsys.readouterr().err
    assert sorted(p.name for p in model.iterdir()) == ["model.json", "train.extxyz"]


def _tmpfs(path, size: str) -> None:
    """Mount a tmpfs of ``size`` at ``path``, or skip where this machine cannot."""
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small full filesystem needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


def test_an_import_onto_a_full_disk_fails_in_one_line_and_leaves_nothing(tmp_path):
    frames = copper_frames(tmp_path / "cu.extxyz", count=4)
    ase.io.write(frames, ase.io.read(frames, ":") * 250, format="extxyz")  # 1000 frames
    disk = tmp_path / "disk"
    _tmpfs(disk, "1m")
    try:
        for filler in (0, 900):  # an empty small disk, and one nearly full
            if filler:
                (disk / "filler").write_bytes(b"\0" * filler * 1024)
            done = subprocess.run([sys.executable, "-m", "mlipselect.cli", "import",
                                   str(frames), "--out", str(disk / "pool.h5")],
                                  capture_output=True, text=True)
            assert done.returncode == 2, done.stderr  # not a crash (-11)
            errors = [line for line in done.stderr.splitlines() if "error" in line]
            assert errors == [f"mlipselect import: error: {disk / 'pool.h5'}: cannot write the "
                              "pool (No space left on device: " + errors[0].split(": ", 4)[-1]]
            assert "nothing was written" in errors[0] and "Traceback" not in done.stderr
            assert sorted(p.name for p in disk.iterdir()) == (["filler"] if filler else [])
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_ctrl_c_stops_a_command_inside_native_code_within_a_second(user_files):
    """A labeller busy in BLAS (an eigendecomposition of seconds) returns to Python only when
    done: the watchdog stops the command anyway, and leaves nothing half-written."""
    d = user_files["dir"]
    (d / "blas.py").write_text(textwrap.dedent("""\
        import pathlib
        import numpy as np
        from ase.calculators.emt import EMT

        class BlasEMT(EMT):
            def calculate(self, *args, **kwargs):
                pathlib.Path("busy").touch()
                x = np.random.default_rng(0).random((2500, 2500))
                for _ in range(10):
                    np.linalg.eigh(x + x.T)
                super().calculate(*args, **kwargs)

        def make():
            return BlasEMT()
        """))
    proc = _start(["label", user_files["cu"], "--calculator", "blas.py:make", "--out",
                   "out.extxyz"], d)
    _wait_for(lambda: (d / "busy").exists(), proc)
    time.sleep(0.5)  # inside LAPACK
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert "stopped inside native code" in err
    assert took < 3.0, f"{took:.1f} s after Ctrl-C"  # 1 s and the exit, on a loaded machine
    assert not [p.name for p in d.iterdir() if p.name.startswith(("out.", ".out."))]


def test_md_refuses_a_start_it_cannot_run_before_any_work(user_files, capsys):
    d = user_files["dir"]
    nacl = ase.io.read(user_files["frames"], 0)
    cluster = nacl.copy()
    cluster.pbc = False
    cluster.cell = None
    copper = ase.io.read(user_files["cu"], 0)
    for name, atoms, message in (("cluster", cluster, "must be periodic in all three"),
                                 ("copper", copper, "holds Cu, which the potential does not")):
        ase.io.write(d / f"{name}.extxyz", atoms)
        assert run("md", "reference", "--config", "smoke", "--start", d / f"{name}.extxyz",
                   "--out", d / f"{name}-md.extxyz", "--time-ps", "0.01") == 2
        assert message in capsys.readouterr().err
        assert not list(d.glob(f"{name}-md*")) and not list(d.glob(f".{name}-md*"))
