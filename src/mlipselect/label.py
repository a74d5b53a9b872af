"""Relabel frames with single-point calculations of a reference calculator.

The seed's "future work" step: the selected frames are recomputed with the reference,
here the BMHTF potential, or any ASE calculator (DFT, tight binding) given as
``MODULE:CALLABLE``. Frames are appended to ``OUT.partial`` as they finish; a rerun after an
interruption skips the frames already there, and ``OUT`` appears only when all are done.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import ase.io
import numpy as np
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from tqdm.auto import tqdm

from mlipselect.errors import InputError
from mlipselect.pool.frames_io import iread_frames

LABELS = ("energy", "forces", "energies", "stress")


def make_calculator(spec: str, reference: dict | None = None) -> Calculator:
    """``"reference"`` (BMHTF with the profile's ``reference`` settings) or ``MODULE:CALLABLE``,
    a callable taking no arguments that returns an ASE calculator."""
    if spec == "reference":
        from mlipselect.reference.calculator import BMHTF

        return BMHTF(**(reference or {}))
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InputError(f"calculator '{spec}': expected 'reference' or MODULE:CALLABLE")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise InputError(f"calculator '{spec}': cannot import ({err})") from None
    return factory()


def single_point(atoms, calc: Calculator):
    """A copy of ``atoms`` carrying ``calc``'s labels in a SinglePointCalculator."""
    out = atoms.copy()
    out.calc = calc
    wanted = [k for k in LABELS if k in calc.implemented_properties]
    calc.calculate(out, properties=wanted)
    results = {k: np.copy(calc.results[k]) for k in wanted if k in calc.results}
    out.calc = SinglePointCalculator(out, **results)
    return out


def label_file(inp, out, calc: Calculator, progress: bool = True) -> int:
    """Label every frame of ``inp`` with ``calc`` into ``out`` (extxyz); returns the count."""
    inp, out = Path(inp), Path(out)
    partial = out.with_name(out.name + ".partial")
    frames = list(iread_frames(inp, require=()))
    done = 0
    if partial.exists():
        done = sum(1 for _ in ase.io.iread(partial, index=":", format="extxyz"))
    if done > len(frames):
        raise InputError(f"{partial}: has {done} frames but {inp} only {len(frames)}; delete it")
    with open(partial, "a") as fh:
        for i in tqdm(range(done, len(frames)), initial=done, total=len(frames), desc="label",
                      unit="frame", disable=not progress):
            try:
                labelled = single_point(frames[i], calc)
            except Exception as err:
                raise InputError(
                    f"{inp}, frame {i}: the calculator failed ({type(err).__name__}: {err}); "
                    f"{i} labelled frames are kept in {partial} and a rerun resumes there"
                ) from err
            ase.io.write(fh, labelled, format="extxyz")
            fh.flush()
    partial.replace(out)
    return len(frames)
