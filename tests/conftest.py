"""Shared fixtures: small profiles written to temporary YAML files, a sampled smoke pool, a slow
calculator for interrupting labelling runs, and finite-difference forces."""

from __future__ import annotations

import copy
import textwrap

import pytest
import yaml

from mlipselect.config import PROFILES_DIR


@pytest.fixture
def make_profile(tmp_path):
    """Write a profile to a temporary YAML: the ``base`` profile with ``sections`` merged in
    (section name -> dict of keys); returns its path."""

    def write(base: str = "smoke", **sections) -> str:
        profile = yaml.safe_load((PROFILES_DIR / f"{base}.yaml").read_text())
        for section, values in sections.items():
            profile[section] = {**profile.get(section, {}), **copy.deepcopy(values)}
        path = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}.yaml"
        path.write_text(yaml.safe_dump(profile))
        return str(path)

    return write


@pytest.fixture(scope="session")
def smoke_pool(tmp_path_factory):
    """The smoke profile's pool (64 ions; a crystal and a melt state point)."""
    from mlipselect.cli import main

    out = tmp_path_factory.mktemp("pool") / "pool.h5"
    assert main(["sample", "--config", "smoke", "--out", str(out)]) == 0
    return out


@pytest.fixture
def slow_calculator(tmp_path) -> str:
    """``slowcalc.py:make`` in ``tmp_path``: EMT that sleeps per frame, slow enough for a
    labelling run to be caught midway."""
    (tmp_path / "slowcalc.py").write_text(textwrap.dedent("""\
        import time
        from ase.calculators.emt import EMT

        class SlowEMT(EMT):
            def calculate(self, *args, **kwargs):
                time.sleep(0.3)
                super().calculate(*args, **kwargs)

        def make():
            return SlowEMT()
        """))
    return "slowcalc.py:make"


@pytest.fixture
def numeric_force():
    """``numeric_force(atoms, atom, axis, h)``: minus the central difference of the energy of
    ``atoms`` (with its calculator) along one coordinate, to compare forces with."""

    def force(atoms, atom: int, axis: int, h: float) -> float:
        energies = []
        for step in (h, -h):
            moved = atoms.copy()
            moved.calc = atoms.calc
            moved.positions[atom, axis] += step
            energies.append(moved.get_potential_energy())
        return -(energies[0] - energies[1]) / (2 * h)

    return force
