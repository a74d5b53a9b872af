"""Relabel frames with single-point calculations of a reference calculator.

The seed's "future work" step: the selected frames are recomputed with the reference,
here the BMHTF potential, or any ASE calculator (DFT, tight binding) given as
``MODULE:CALLABLE`` or ``PATH.py:CALLABLE``. Frames are appended to ``OUT.partial`` as they
finish, each recording the work it belongs to (the input's bytes, the calculator's class and
parameters); a rerun of the same work resumes after the frames already there, a rerun of
other work is refused, and ``OUT`` appears only when all frames are done.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import ase.io
import numpy as np
from ase.calculators.calculator import BaseCalculator
from ase.calculators.singlepoint import SinglePointCalculator
from tqdm.auto import tqdm

from mlipselect.errors import InputError
from mlipselect.io import OutputExistsError, appending, claim_output, work_key
from mlipselect.pool.frames_io import complete_frames, frame_format, iread_frames, write_frames
from mlipselect.pool.store import LABELS

RUN_KEY = "label_run"
"""Frame info key holding the :func:`~mlipselect.io.work_key` of the labelling."""


def make_calculator(spec: str, reference: dict | None = None) -> BaseCalculator:
    """An ASE calculator from ``spec``: ``"reference"`` (BMHTF NaCl with the profile's
    ``reference`` settings), ``MODULE:CALLABLE`` (an importable module, the working directory
    included) or ``PATH.py:CALLABLE``, where the callable takes no arguments and returns an
    ASE calculator."""
    if spec == "reference":
        from mlipselect.reference.calculator import BMHTF

        return BMHTF(**(reference or {}))
    source, _, attr = spec.rpartition(":")
    if not source or not attr:
        raise InputError(f"calculator '{spec}': expected 'reference', MODULE:CALLABLE or "
                         "PATH.py:CALLABLE")
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
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    return importlib.import_module(source)


def reference_species(frames, where: str) -> None:
    """Refuse, before any work, frames the BMHTF NaCl reference cannot label."""
    from mlipselect.reference.bmhtf import SPECIES

    for i, atoms in enumerate(frames):
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(SPECIES))
        if unknown:
            raise InputError(f"{where}, frame {i}: holds {', '.join(unknown)}, which the "
                             f"reference calculator (BMHTF NaCl: {', '.join(SPECIES)}) does "
                             "not know; give your own with --calculator MODULE:CALLABLE")


def single_point(atoms, calc: BaseCalculator):
    """A copy of ``atoms`` carrying ``calc``'s labels in a SinglePointCalculator."""
    out = atoms.copy()
    out.calc = calc
    wanted = [k for k in LABELS if k in calc.implemented_properties]
    calc.calculate(out, properties=wanted)
    results = {k: np.copy(calc.results[k]) for k in wanted if k in calc.results}
    out.calc = SinglePointCalculator(out, **results)
    return out


def labelling_key(inp, calc: BaseCalculator) -> str:
    """The work of labelling ``inp`` with ``calc``: the input's bytes, the calculator's class
    and its parameters."""
    kind = f"{type(calc).__module__}.{type(calc).__qualname__}"
    return work_key({"calculator": kind, "parameters": calc.todict()}, [inp])


def _key_of(path, fmt: str | None = None) -> str | None:
    try:
        return ase.io.read(path, index=0, format=fmt).info.get(RUN_KEY)
    except Exception:  # an empty, truncated or foreign file holds no key
        return None


def label_file(inp, out, calc: BaseCalculator, overwrite: bool = False,
               progress: bool = True) -> tuple[int, int] | None:
    """Label every frame of ``inp`` with ``calc`` into ``out`` (format from its extension).

    Returns ``(labelled now, resumed from the partial result)``, or None when ``out``
    already holds this work (then nothing is done).

    ``overwrite`` replaces an ``out`` of other work and discards a partial result of other
    work; without it both are refused.
    """
    inp, out = Path(inp), Path(out)
    partial = out.with_name(out.name + ".partial")
    frames = list(iread_frames(inp, require=()))
    fmt = frame_format(out, len(frames))
    key = labelling_key(inp, calc)
    if claim_output(out, overwrite, inputs=[inp], done=lambda p: _key_of(p, fmt) == key):
        return None
    with appending(partial) as fh:
        done = complete_frames(partial)
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
        partial.replace(out)
    else:
        write_frames(ase.io.iread(partial, index=":", format="extxyz"), out)
        partial.unlink()
    return len(frames) - done, done
