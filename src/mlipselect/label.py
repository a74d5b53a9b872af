"""Relabel frames with single-point calculations of a labeller.

The seed's "future work" step: the selected frames are recomputed with a labeller, the BMHTF
reference, GFN1-xTB or GFN2-xTB (tblite), or any ASE calculator (DFT, tight binding) given as
``MODULE:CALLABLE`` or ``PATH.py:CALLABLE``.

Without a cache, frames are appended to ``OUT.partial`` as they finish, each recording the
work it belongs to (the input's bytes, the calculator's class and parameters); a rerun of the
same work resumes after the frames already there, a rerun of other work is refused, and
``OUT`` appears only when all frames are done; a frame the calculator fails on stops the run.

With a :class:`LabelCache`, each distinct frame is labelled once per labeller, whichever
file it comes in (overlapping selections, repeated seeds, test sets): a frame's result, or its
recorded failure, is one file of the cache, written whole or not at all, so a run killed at
any moment resumes with every finished frame. A frame the labeller fails on (an SCF that does
not converge) is recorded and named, and left out of ``OUT``; the others are labelled.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import importlib.util
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator, PropertyNotImplementedError
from ase.calculators.singlepoint import SinglePointCalculator
from tqdm.auto import tqdm

from mlipselect.config import Label, Profile
from mlipselect.errors import InputError
from mlipselect.io import (
    ALREADY,
    Outcome,
    OutputExistsError,
    appending,
    atomic_path,
    claim_output,
    commit_file,
    work_key,
)
from mlipselect.pool.frames_io import (
    cut_to_complete_frames,
    first_frame_info,
    frame_format,
    iread_frames,
    write_frames,
)
from mlipselect.pool.store import LABELS

RUN_KEY = "label_run"
"""Frame info key holding the :func:`~mlipselect.io.work_key` of the labelling."""


XTB = {"gfn1-xtb": "GFN1-xTB", "gfn2-xtb": "GFN2-xTB"}
"""The tight-binding labellers, by name, and tblite's name of each method."""


def make_calculator(spec: str, reference: dict | None = None,
                    settings: dict | None = None) -> BaseCalculator:
    """An ASE calculator from ``spec``: ``"reference"`` (BMHTF NaCl with the profile's
    ``reference`` settings), ``"gfn1-xtb"`` or ``"gfn2-xtb"`` (tblite, with ``settings`` such
    as ``accuracy``, ``electronic_temperature``, ``max_iterations``), ``MODULE:CALLABLE`` (an
    importable module, the working directory included) or ``PATH.py:CALLABLE``, where the
    callable takes no arguments and returns an ASE calculator."""
    if spec == "reference":
        from mlipselect.reference.calculator import BMHTF

        return BMHTF(**(reference or {}))
    if spec in XTB:
        from tblite.ase import TBLite

        unknown = sorted(set(settings or {}) - set(TBLite.default_parameters))
        if unknown:
            raise InputError(f"labeller '{spec}': unknown settings {unknown} (tblite's: "
                             f"{', '.join(TBLite.default_parameters)})")
        return TBLite(**{"verbosity": 0, **(settings or {}), "method": XTB[spec]})
    source, _, attr = spec.rpartition(":")
    if not source or not attr:
        raise InputError(f"calculator '{spec}': expected 'reference', "
                         f"{', '.join(XTB)}, MODULE:CALLABLE or PATH.py:CALLABLE")
    try:
        factory = getattr(_load(source), attr)
    except (ImportError, AttributeError, OSError, SyntaxError) as err:
        raise InputError(f"calculator '{spec}': cannot import ({type(err).__name__}: {err})"
                         ) from None
    calc = factory()
    if not isinstance(calc, BaseCalculator):
        raise InputError(f"calculator '{spec}': {attr}() returned a {type(calc).__name__}, "
                         "not an ASE calculator")
    return calc


def _load(source: str):
    """A module from a ``.py`` path or an importable name (the working directory first)."""
    if source.endswith(".py"):
        path = Path(source)
        if not path.is_file():
            raise ImportError(f"no file {path}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"{path}: not a Python module")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    if "" in sys.path or str(Path.cwd()) in sys.path:
        return importlib.import_module(source)
    sys.path.insert(0, str(Path.cwd()))  # for this import only
    try:
        return importlib.import_module(source)
    finally:
        sys.path.remove(str(Path.cwd()))


def reference_species(frames, where: str) -> None:
    """Refuse, before any work, frames the BMHTF NaCl reference cannot label."""
    from mlipselect.reference.bmhtf import SPECIES

    for i, atoms in enumerate(frames):
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(SPECIES))
        if unknown:
            raise InputError(f"{where}, frame {i}: holds {', '.join(unknown)}, which the "
                             f"reference calculator (BMHTF NaCl: {', '.join(SPECIES)}) does "
                             "not know; give your own with --calculator MODULE:CALLABLE")


REQUIRED = ("energy", "forces")
"""The labels every labelled frame must get; the rest of ``LABELS`` (per-atom energies,
stress) are kept where the calculator gives them for that frame."""


def single_point(atoms, calc: BaseCalculator):
    """A copy of ``atoms`` carrying ``calc``'s labels in a SinglePointCalculator: energy and
    forces, and per-atom energies and stress where the calculator gives them for this frame
    (no stress without a cell periodic in every direction; a calculator that cannot give an
    optional label for this frame, EMT's stress of a cluster say, is asked without it)."""
    out = atoms.copy()
    out.calc = calc
    optional = [k for k in LABELS if k not in REQUIRED and k in calc.implemented_properties
                and (k != "stress" or atoms.pbc.all())]
    wanted = [*REQUIRED, *optional]
    results: dict = {}

    def ask(properties) -> None:  # keeps whatever wanted label the calculation gave
        calc.reset()
        calc.calculate(out, properties=list(properties))
        results.update({k: np.copy(calc.results[k]) for k in wanted if k in calc.results})

    try:
        ask(wanted)
    except PropertyNotImplementedError:
        ask(REQUIRED)
        for key in optional:  # those this frame allows and did not come along, one at a time
            if key not in results:
                with contextlib.suppress(PropertyNotImplementedError):
                    ask([key])
    missing = [k for k in REQUIRED if k not in results]
    if missing:
        raise PropertyNotImplementedError(f"the calculator gave no {', '.join(missing)}")
    out.calc = SinglePointCalculator(out, **results)
    return out


def described(calc: BaseCalculator) -> dict:
    """What a labeller is, for keys and caches: its class and its parameters."""
    return {"calculator": f"{type(calc).__module__}.{type(calc).__qualname__}",
            "parameters": calc.todict()}


def labelling_key(inp, calc: BaseCalculator) -> str:
    """The work of labelling ``inp`` with ``calc``: the input's bytes and the labeller."""
    return work_key(described(calc), [inp])


def _key_of(path, fmt: str | None = None) -> str | None:
    return first_frame_info(path, RUN_KEY, fmt)


def label_file(inp, out, calc: BaseCalculator, overwrite: bool = False,
               progress: bool = True) -> Outcome:
    """Label every frame of ``inp`` with ``calc`` into ``out`` (format from its extension).

    Returns the frames labelled now (``computed``) and resumed from the partial result
    (``reused``), or ``already`` when ``out`` held this work (then nothing is done).

    ``overwrite`` replaces an ``out`` of other work and discards a partial result of other
    work; without it both are refused.
    """
    inp, out = Path(inp), Path(out)
    partial = out.with_name(out.name + ".partial")
    frames = list(iread_frames(inp, require=()))
    fmt = frame_format(out, len(frames))
    key = labelling_key(inp, calc)
    if claim_output(out, overwrite, inputs=[inp], done=lambda p: _key_of(p, fmt) == key):
        return ALREADY
    with appending(partial) as fh:
        done = cut_to_complete_frames(partial)
        if done and _key_of(partial, "extxyz") != key:
            if not overwrite:
                raise OutputExistsError(
                    f"{partial}: a partial result of other work (another input, calculator or "
                    "settings); rerun that work to finish it, or pass --overwrite to start "
                    "afresh")
            fh.truncate(0)
            done = 0
        for i in tqdm(range(done, len(frames)), initial=done, total=len(frames), desc="label",
                      unit="frame", disable=not progress):
            try:
                labelled = single_point(frames[i], calc)
            except Exception as err:
                raise InputError(
                    f"{inp}, frame {i}: the calculator failed ({type(err).__name__}: {err}); "
                    f"{i} labelled frames are kept in {partial} and a rerun resumes there"
                ) from err
            labelled.info[RUN_KEY] = key
            ase.io.write(fh, labelled, format="extxyz")
            fh.flush()
    if fmt == "extxyz":
        commit_file(partial, out)
    else:
        write_frames(ase.io.iread(partial, index=":", format="extxyz"), out)
        partial.unlink()
    return Outcome(computed=len(frames) - done, reused=done)


def frame_digest(atoms) -> str:
    """What makes two frames the same to a labeller: species, positions, cell and
    periodicity, to the bit."""
    h = hashlib.sha256()
    for array in (atoms.numbers.astype(np.int64), atoms.positions.astype(np.float64),
                  atoms.cell.array.astype(np.float64), atoms.pbc.astype(np.int8)):
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:24]


@dataclass(frozen=True)
class Result:
    """What the labeller gave for one frame: the ``frame`` with its labels, or the
    ``failure`` (why it failed on the frame)."""

    frame: Atoms | None = None
    failure: str | None = None


class LabelCache:
    """The labels of one labeller, under ``root/<labeller key>/``: per distinct frame, either
    ``<frame digest>.extxyz`` (the frame with its labels) or ``<frame digest>.failed.json``
    (why the labeller failed on it). ``labeller.json`` says which labeller a folder holds.
    Processes sharing a cache label each frame once: a frame being labelled is locked, and the
    kernel drops the lock when its holder dies, however it dies."""

    def __init__(self, root, calc: BaseCalculator):
        self.calc = calc
        labeller = described(calc)
        self.dir = Path(root) / work_key(labeller)
        self.dir.mkdir(parents=True, exist_ok=True)
        if not (self.dir / "labeller.json").exists():
            with atomic_path(self.dir / "labeller.json") as tmp:
                tmp.write_text(json.dumps(labeller, indent=2, default=str) + "\n")

    def lookup(self, digest: str) -> Result | None:
        """The labeller's result for the frame of ``digest``, or None where there is none."""
        done = self.dir / f"{digest}.extxyz"
        if done.exists():
            return Result(frame=ase.io.read(done, format="extxyz"))
        failed = self.dir / f"{digest}.failed.json"
        if failed.exists():
            return Result(failure=json.loads(failed.read_text())["reason"])
        return None

    def forget_failure(self, digest: str) -> bool:
        """Drop the recorded failure of a frame, so that it is labelled again; True if there
        was one."""
        failed = self.dir / f"{digest}.failed.json"
        try:
            failed.unlink()
        except FileNotFoundError:
            return False
        return True

    def label(self, atoms, digest: str, wait: bool) -> tuple[Result | None, bool]:
        """``(result, computed)``: the result of :meth:`lookup`, after labelling ``atoms`` here
        when no one has; ``(None, False)`` when another process is labelling it and not
        ``wait``."""
        lock_path = self.dir / f"{digest}.lock"
        with open(lock_path, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                return None, False
            found = self.lookup(digest)  # labelled by the lock's last holder
            if found is not None:
                return found, False
            bare = atoms.copy()
            bare.info = {}
            try:
                result = Result(frame=single_point(bare, self.calc))
            except Exception as err:  # any failure of the labeller is this frame's
                result = Result(failure=f"{type(err).__name__}: {err}")
                with atomic_path(self.dir / f"{digest}.failed.json") as tmp:
                    tmp.write_text(json.dumps({"reason": result.failure}) + "\n")
            else:
                with atomic_path(self.dir / f"{digest}.extxyz") as tmp:
                    ase.io.write(tmp, result.frame, format="extxyz")
            lock_path.unlink()
            return result, True


def label_through_cache(inp, out, cache: LabelCache, overwrite: bool = False,
                        progress: bool = True, retry_failed: bool = False) -> Outcome:
    """Label every frame of ``inp`` into ``out`` through ``cache``: frames the cache holds are
    not computed again. ``out`` keeps the input frames' info and gets the labeller's labels;
    frames the labeller failed on are left out and named. Returns the frames labelled now
    (``computed``), those whose result (labels or a recorded failure) the cache held
    (``reused``) and the failures (``"frame I (pool index J): reason"``), or ``already`` when
    ``out`` held this work. Fails, writing nothing, when the labeller failed on every
    frame.

    ``retry_failed`` labels again the frames whose failure the cache recorded (after a
    labeller's settings were fixed outside its parameters, say, or a transient fault), and
    then replaces an ``out`` of this work that left them out."""
    inp, out = Path(inp), Path(out)
    frames = list(iread_frames(inp, require=()))
    fmt = frame_format(out, len(frames))
    key = labelling_key(inp, cache.calc)
    digests = [frame_digest(a) for a in frames]
    retried = retry_failed and any([cache.forget_failure(d) for d in digests])
    ours = out.exists() and _key_of(out, fmt) == key
    if claim_output(out, overwrite or (retried and ours), inputs=[inp],
                    done=lambda p: _key_of(p, fmt) == key):
        return ALREADY
    results = {i: found for i, d in enumerate(digests)
               if (found := cache.lookup(d)) is not None}
    pending, computed, start = [i for i in range(len(frames)) if i not in results], 0, time.time()
    with tqdm(total=len(frames), initial=len(results), desc="label", unit="frame",
              disable=not progress) as bar:
        for wait in (False, True):  # first what no one is labelling, then wait for the rest
            deferred = []
            for i in pending:
                result, fresh = cache.label(frames[i], digests[i], wait)
                if result is None:
                    deferred.append(i)
                    continue
                results[i], computed = result, computed + fresh
                bar.update()
                if computed:
                    bar.set_postfix_str(f"{60 * computed / (time.time() - start):.1f} frames/min")
            pending = deferred
    failed = [f"frame {i} (pool index {frames[i].info.get('pool_index', '-')}): {r.failure}"
              for i, r in sorted(results.items()) if r.failure is not None]
    if frames and len(failed) == len(frames):
        raise InputError(f"{inp}: the labeller failed on every frame, e.g. {failed[0]}; the "
                         f"failures are recorded in {cache.dir} (--retry-failed labels them "
                         "again)")
    labelled = []
    for i, atoms in enumerate(frames):
        result = results[i].frame
        if result is None:
            continue
        frame = atoms.copy()
        frame.calc = SinglePointCalculator(frame, **result.calc.results)
        frame.info[RUN_KEY] = key
        labelled.append(frame)
    write_frames(labelled, out)
    return Outcome(computed, len(frames) - computed, tuple(failed))


def label_frames(inp, out, calculator: str | None = None, profile: Profile | None = None,
                 cache=None, retry_failed: bool = False, overwrite: bool = False,
                 progress: bool = True) -> Outcome:
    """What ``mlipselect label`` does: label the frames of ``inp`` into ``out`` with the
    labeller ``calculator`` (a :func:`make_calculator` spec; default: the profile's
    ``label.calculator``, with its ``label.settings``), through the label cache folder
    ``cache`` where one is named (:func:`label_through_cache`), else resumably
    (:func:`label_file`). ``profile``: a loaded profile (its ``reference`` section sets the
    BMHTF reference); None for the package's defaults."""
    chosen = profile.label if profile else Label()
    spec = calculator or chosen.calculator
    settings = chosen.settings if spec == chosen.calculator else {}
    if spec == "reference":
        reference_species(iread_frames(inp, require=()), str(inp))
    calc = make_calculator(spec, profile.section("reference") if profile else None, settings)
    if cache is None:
        if retry_failed:
            raise InputError("--retry-failed needs --cache (without a cache, failures are not "
                             "recorded: a rerun retries the frame it stopped at)")
        return label_file(inp, out, calc, overwrite=overwrite, progress=progress)
    return label_through_cache(inp, out, LabelCache(cache, calc), overwrite=overwrite,
                               progress=progress, retry_failed=retry_failed)
