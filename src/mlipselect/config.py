"""Profiles: one YAML per scale, one section per stage of the pipeline.

A profile is checked against ``SCHEMA`` when it is loaded: an unknown section or key, or a
value of the wrong type, fails with one message naming the file and the key. Missing keys
take the defaults below, so a profile states only what it changes.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from mlipselect.errors import InputError

REPRODUCE_DIR = Path(__file__).resolve().parents[2] / "reproduce"
"""The workflow and its profiles; found beside the package in a source checkout."""
PROFILES_DIR = REPRODUCE_DIR / "profiles"

SCHEMA: dict[str, dict] = {
    "system": {
        "repeat": 3,  # conventional rocksalt cells per side: 8 * repeat**3 ions
        "lattice_constant": 5.62,  # A, starting crystal (the model's 0 K value)
    },
    "reference": {"cutoff": 9.0, "kspace": "pppm", "accuracy": 1e-5, "threads": 1},
    "sample": {
        "timestep_fs": 2.0,
        "equilibrate_ps": 5.0,
        "production_ps": 20.0,
        "every": 50,  # MD steps between stored frames
        "melt_temperature": 2500.0,  # K, melts the crystal before liquid states equilibrate
        "melt_ps": 10.0,
        "seed": 0,
        "jobs": 1,  # state points run at the same time
        "states": [],  # list of {name, ensemble: nvt|npt|nve, temperature, pressure, phase}
    },
    "split": {"test_fraction": 0.2, "seed": 0},
    "select": {
        "methods": ["random", "energy", "forces", "atomic-energies"],
        "n": [32],
        "seeds": [0],
        # per method, its options over the method's defaults, e.g. {"forces": {"bins": 32}}
        "options": {},
    },
    "train": {
        # SchNet (schnetpack). Sizes are named; a workflow trains every size listed.
        "nn": {
            "sizes": {
                "small": {"features": 32, "interactions": 2, "cutoff": 6.0, "rbf": 20},
                "medium": {"features": 64, "interactions": 3, "cutoff": 6.0, "rbf": 20},
                "large": {"features": 128, "interactions": 3, "cutoff": 6.0, "rbf": 20},
            },
            "epochs": 300,
            "batch_size": 4,  # frames per optimiser step
            "lr": 5e-4,
            "lr_factor": 0.5,  # learning rate times this after lr_patience epochs w/o progress
            "lr_patience": 10,
            "min_lr": 1e-6,
            "patience": 30,  # early stopping: epochs without a better validation loss
            "energy_weight": 0.05,  # loss = w_E * MSE(E/atom) + w_F * MSE(F), in units of
            "forces_weight": 0.95,  # the training set's RMS force component
            "validation_fraction": 0.1,
        },
        # Sparse GPR on SOAP power spectra (featomic); see mlipselect.models.gpr.
        "gpr": {
            "sizes": {
                "soap": {"cutoff": 5.0, "max_radial": 7, "max_angular": 4, "sparse_points": 400},
            },
            # max_radial, max_angular: largest radial (GTO) and angular index of the basis
            "atom_width": 0.5,  # A, Gaussian density width
            "smoothing": 0.5,  # A, cosine cutoff width
            "zeta": 2,  # kernel exponent
            "delta": 0.2,  # eV, prior energy scale per atom
            "energy_sigma": 0.002,  # eV per atom, energy noise (scaled by sqrt(atoms))
            "forces_sigma": 0.05,  # eV/A, force noise
            "sparse_method": "cur",  # cur | random, per species
            "jitter": 1e-8,  # relative, added to K_mm
        },
    },
    "evaluate": {},
    "md": {
        "temperature": 1400.0,  # K, NVT target
        "time_ps": 10.0,
        "timestep_fs": 2.0,
        "thermostat": "bussi",  # bussi (stochastic velocity rescaling) | nve
        "taut_fs": 100.0,  # thermostat time constant
        "seed": 0,
        "stride": 25,  # steps between stored frames
        "reference_engine": "ase",  # the reference runs: ase (as models do) | lammps
        "min_distance": 1.5,  # A, guard: stop when two ions come closer
        "max_temperature_factor": 2.0,  # guard: stop above this times the target temperature
        "guard_every": 10,  # steps between shortest-distance checks
    },
    "rdf": {"rmax": 8.0, "bins": 160, "blocks": 5},  # A, bins on [0, rmax), blocks for errors
    "report": {
        # A (integral of g_NaNa below the reference's first rise) above which a model-driven
        # MD counts as showing a non-physical short-range peak (claim C3)
        "artifact_threshold": 0.01,
        "tail_percent": 1.0,  # C1: tails are beyond these pool percentiles (and 100 minus)
    },
    "reproduce": {
        "train_n": {"nn": 32, "gpr": 16},  # which selection size each model family trains on
        "md_models": {"nn": "small"},  # family -> size driving the MD comparison
        "md_methods": ["energy", "atomic-energies"],  # the seed's F3 compares these two
        "md_seeds": [0],
        "md_start_state": "melt-1400K",  # MD starts from this state point's last frame
        # threads of each training, evaluation and MD job (torch's too): 1 runs as many jobs
        # side by side as there are cores, which beats threading small models
        "threads": 1,
    },
}

ENSEMBLES = ("nvt", "npt", "nve")  # nve: velocities drawn at the temperature, then no thermostat
STATE_KEYS = {"name": str, "ensemble": str, "temperature": (int, float), "pressure": (int, float),
              "phase": str}


class ProfileError(InputError):
    """A profile that does not fit the schema."""


def resolve_profile(name_or_path) -> Path:
    """A profile path from a path or from a name in ``reproduce/profiles``."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    candidate = PROFILES_DIR / f"{name_or_path}.yaml"
    if not candidate.exists():
        known = sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))
        raise ProfileError(f"no profile named '{name_or_path}' (known: {', '.join(known)})")
    return candidate


def load_profile(name_or_path) -> dict:
    """Read, check and complete a profile; the result has every key of ``SCHEMA``."""
    path = resolve_profile(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as err:
        raise ProfileError(f"{path}: cannot read ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ProfileError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    profile = copy.deepcopy(SCHEMA)
    profile["name"] = raw.pop("name", path.stem)
    for section, values in raw.items():
        if section not in SCHEMA:
            raise ProfileError(
                f"{path}: unknown section '{section}' (known: {', '.join(SCHEMA)})"
            )
        if not isinstance(values, dict):
            raise ProfileError(f"{path}: section '{section}' must be a mapping")
        defaults = SCHEMA[section]
        for key, value in values.items():
            if defaults and key not in defaults:
                raise ProfileError(
                    f"{path}: unknown key '{section}.{key}' (known: {', '.join(defaults)})"
                )
            if key in defaults:
                _check_type(path, f"{section}.{key}", value, defaults[key])
            profile[section][key] = value
    for i, state in enumerate(profile["sample"]["states"]):
        check_state(state, f"{path}: sample.states[{i}]")
    check_selection_options(profile["select"]["options"], path)
    profile["path"] = str(path)
    return profile


def check_selection_options(options: dict, path) -> None:
    """``select.options``: known methods, each with its own options of the right types."""
    from mlipselect.selection import get_method

    for method, given in options.items():
        try:
            if not isinstance(given, dict):
                raise InputError(f"must map option names to values, got {given!r}")
            get_method(method).settings(given)
        except InputError as err:
            raise ProfileError(f"{path}: select.options.{method}: {err}") from None


def _check_type(path, key, value, default) -> None:
    if isinstance(default, bool) or default is None:
        ok = isinstance(value, type(default)) or default is None
    elif isinstance(default, (int, float)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ProfileError(
            f"{path}: '{key}' must be {type(default).__name__}, got {value!r}"
        )


def check_state(state, where: str) -> None:
    """One state point: the keys of ``STATE_KEYS``, a positive temperature, a known ensemble."""
    if not isinstance(state, dict):
        raise ProfileError(f"{where}: expected a mapping with {', '.join(STATE_KEYS)}")
    missing = [k for k in STATE_KEYS if k not in state]
    unknown = [k for k in state if k not in STATE_KEYS]
    if missing or unknown:
        raise ProfileError(f"{where}: missing keys {missing}, unknown keys {unknown}")
    for key, kind in STATE_KEYS.items():
        if not isinstance(state[key], kind) or isinstance(state[key], bool):
            raise ProfileError(f"{where}: '{key}' has the wrong type ({state[key]!r})")
    if state["temperature"] <= 0:
        raise ProfileError(f"{where} '{state['name']}': temperature must be > 0 K")
    if state["ensemble"] not in ENSEMBLES:
        raise ProfileError(
            f"{where} '{state['name']}': ensemble must be one of {', '.join(ENSEMBLES)}"
        )
    if state["phase"] not in ("crystal", "melt"):
        raise ProfileError(f"{where} '{state['name']}': phase must be 'crystal' or 'melt'")
