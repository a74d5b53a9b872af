"""Profiles: one YAML per scale, one section per stage of the pipeline.

This module is the one place where a profile is completed and checked. Missing keys take the
:func:`defaults` (key by key, also inside each model family of ``train``), so a profile
states only what it changes; an unknown section or key, a value of the wrong type or out of
range fails with one message naming the file and the key; ``check_reproduction`` checks that
the reproduction's grid fits together. A loaded profile is a :class:`Profile`, one frozen
record per section; dicts remain only where a profile is read from or written to a file
(:meth:`Profile.section`) and in each model family's own ``train`` settings. The profiles
``smoke``, ``quick``, ``active``, ``xtb`` and ``paper`` ship with the package; a profile may
extend another (``extends: quick``) and state only what it changes.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mlipselect.errors import InputError

PROFILES_DIR = Path(str(resources.files("mlipselect") / "profiles"))
"""The profiles that ship with the package, by name: ``smoke``, ``quick``, ``active``, ``xtb``,
``paper``."""

THERMOSTATS = ("bussi", "nve")
ENGINES = ("ase", "lammps")
"""How the reference runs (``md.reference_engine``); a model runs batched where its family has
a batched form (``Potential.batched``), else through ASE."""
ENSEMBLES = ("nvt", "npt", "nve")  # nve: velocities drawn at the temperature, then no thermostat
STATE_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str, "ensemble": str, "temperature": (int, float), "pressure": (int, float),
    "phase": str}


@dataclass(frozen=True)
class System:
    """The simulated NaCl: a rocksalt supercell."""

    repeat: int = 3  # conventional rocksalt cells per side
    lattice_constant: float = 5.62  # A, the starting crystal (the model's 0 K value)

    @property
    def ions(self) -> int:
        """``8 * repeat**3``: eight ions per conventional rocksalt cell."""
        return int(8 * self.repeat ** 3)


@dataclass(frozen=True)
class Reference:
    """The BMHTF reference in LAMMPS: real-space cutoff (A), long-range solver and its
    relative accuracy, threads of each LAMMPS process."""

    cutoff: float = 9.0
    kspace: str = "pppm"
    accuracy: float = 1e-5
    threads: int = 1


@dataclass(frozen=True)
class State:
    """One state point of the sampler."""

    name: str
    ensemble: str  # nvt | npt | nve (velocities drawn at the temperature, then no thermostat)
    temperature: float  # K
    pressure: float  # bar, for npt
    phase: str  # crystal | melt (a melt is first melted at sample.melt_temperature)


@dataclass(frozen=True)
class Sample:
    """How the pool is sampled: LAMMPS MD at each state point."""

    timestep_fs: float = 2.0
    equilibrate_ps: float = 5.0
    production_ps: float = 20.0
    every: int = 50  # MD steps between stored frames
    melt_temperature: float = 2500.0  # K, melts the crystal before liquid states equilibrate
    melt_ps: float = 10.0
    seed: int = 0
    jobs: int = 1  # state points run at the same time
    states: tuple[State, ...] = ()


@dataclass(frozen=True)
class Split:
    """The in-pool test set: held-out pool frames."""

    test_fraction: float = 0.2
    seed: int = 0


@dataclass(frozen=True)
class HeldOut:
    """Test sets from trajectories the pool does not contain (`mlipselect sample --test-sets`):
    "independent", new runs at the pool's state points, and "extrapolation", at ``states``
    (outside the pool's range). The sampler's protocol, with this seed, shorter."""

    seed: int = 1
    production_ps: float = 4.0
    every: int = 100
    states: tuple[State, ...] = ()


@dataclass(frozen=True)
class Select:
    """The selections a reproduction makes: every method at every size and seed."""

    methods: tuple[str, ...] = ("random", "energy", "forces", "atomic-energies")
    n: tuple[int, ...] = (32,)
    seeds: tuple[int, ...] = (0,)
    # per method, its options over the method's defaults, e.g. {"forces": {"bins": 32}}
    options: dict[str, dict] = field(default_factory=dict)


@dataclass(frozen=True)
class Label:
    """The labeller of the training and test frames: "reference" keeps the pool's own BMHTF
    labels (no relabelling); "gfn1-xtb" or "gfn2-xtb" (tblite, with ``settings`` such as
    accuracy, electronic_temperature, max_iterations) or a calculator "PATH.py:CALLABLE"
    relabels them (`mlipselect label`)."""

    calculator: str = "reference"
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Active:
    """Selection by a model's uncertainty, in rounds (`mlipselect learn`): ``start_fraction``
    of the n frames by ``initial``, then ``rounds`` rounds of train, score, select and label up
    to n. ``models``, per method: the models it scores with, a family, a size (by default the
    family's first) and how many (a committee's members, which differ by their seed and, with
    ``bootstrap: true``, each train on its own resample of the frames). Default: per method of
    ``ACTIVE_COUNTS``, its scoring family's models."""

    initial: str = "random"
    start_fraction: float = 0.5
    rounds: int = 2
    models: dict[str, dict] = field(default_factory=dict)


@dataclass(frozen=True)
class MD:
    """MD driven by a model or the reference, with its stability guard; checked when made."""

    temperature: float = 1400.0  # K, NVT target
    time_ps: float = 10.0
    timestep_fs: float = 2.0
    thermostat: str = "bussi"  # bussi (stochastic velocity rescaling) | nve
    taut_fs: float = 100.0  # thermostat time constant
    seed: int = 0
    stride: int = 25  # steps between stored frames
    reference_engine: str = "ase"  # the reference runs: ase (as models do) | lammps
    min_distance: float = 1.5  # A, guard: stop when two ions come closer
    max_temperature_factor: float = 2.0  # guard: stop above this times the target temperature
    guard_every: int = 10  # steps between shortest-distance checks

    def __post_init__(self):
        checks = {
            "temperature": self.temperature > 0, "time_ps": self.time_ps > 0,
            "timestep_fs": self.timestep_fs > 0, "taut_fs": self.taut_fs > 0,
            "stride": self.stride >= 1, "guard_every": self.guard_every >= 1,
            "min_distance": self.min_distance > 0,
            "max_temperature_factor": self.max_temperature_factor > 1,
            "thermostat": self.thermostat in THERMOSTATS,
            "reference_engine": self.reference_engine in ENGINES,
        }
        bad = [f"{k}={getattr(self, k)!r}" for k, ok in checks.items() if not ok]
        if bad:
            raise InputError(f"md settings out of range: {', '.join(bad)} (thermostat: "
                             f"{'|'.join(THERMOSTATS)}, reference_engine: {'|'.join(ENGINES)}, "
                             "max_temperature_factor > 1, others > 0)")

    @property
    def steps(self) -> int:
        """MD steps of a whole run."""
        return int(round(self.time_ps * 1000 / self.timestep_fs))


@dataclass(frozen=True)
class RDF:
    """g(r) on ``bins`` bins of [0, rmax) A, with errors from ``blocks`` blocks of frames."""

    rmax: float = 8.0
    bins: int = 160
    blocks: int = 5


@dataclass(frozen=True)
class Report:
    """How the report judges the claims."""

    # A (integral of g_NaNa below the reference's first rise) above which a model-driven MD
    # counts as showing a non-physical short-range peak (claim C3)
    artifact_threshold: float = 0.01
    tail_percent: float = 1.0  # C1: tails are beyond these pool percentiles (and 100 minus)
    # equivalence margins m (a ratio within 1/(1+m) .. 1+m counts as no effect), per metric:
    # force-error Max and RMSE, C1's tail shares, MD hazard ratios
    margins: dict[str, float] = field(default_factory=lambda: {
        "max": 0.25, "rmse": 0.05, "tail_share": 0.25, "hazard_ratio": 1.0})
    # the hazard ratio C3's guard-stop comparisons should detect with 80% power; the report
    # says whether each reached it
    target_hazard_ratio: float = 3.0


@dataclass(frozen=True)
class Reproduce:
    """The reproduction's grid beyond the selections."""

    # which selection size each model family trains on (default: the family's train_n)
    train_n: dict[str, int] = field(default_factory=dict)
    # a model trains with its selection's seed plus this offset: the same training seed for
    # every method at a selection seed (methods compare in pairs), drawn from a stream apart
    # from the selection's own
    train_seed_offset: int = 1000
    # MODEL-SIZE (a size or a variant of train.<family>) -> the MD its models drive: `seeds`,
    # the selection seeds whose models run (default select.seeds); `runs` per model (default
    # 1), each from its own frame of md_start_state with fresh Maxwell-Boltzmann momenta;
    # `time_ps` where shorter than md.time_ps (the report states the shortening). Default: the
    # first size of the first family in report order
    md_models: dict[str, dict] = field(default_factory=dict)
    md_methods: tuple[str, ...] = ("energy", "atomic-energies")  # the seed's F3 compares these
    md_start_state: str = "melt-1400K"  # MD starts from frames of this state point
    # threads of each training, evaluation and MD job (torch's too): 1 runs as many jobs side
    # by side as there are cores, which beats threading small models
    threads: int = 1


@dataclass(frozen=True)
class Profile:
    """A completed, checked profile: one record per section; ``train`` maps each model
    family to its own settings (a family owns its keys)."""

    name: str
    path: str
    system: System
    reference: Reference
    sample: Sample
    split: Split
    test: HeldOut
    select: Select
    train: dict[str, dict]
    label: Label
    active: Active
    md: MD
    rdf: RDF
    report: Report
    reproduce: Reproduce

    def section(self, name: str) -> Any:
        """Section ``name`` as plain JSON data (lists, dicts), as a profile file states it."""
        return _plain(getattr(self, name))

    def frames_per_state(self, test: bool = False) -> int:
        """Frames the sampler keeps at each state point of the pool (of the test sets with
        ``test``)."""
        production_ps, every = ((self.test.production_ps, self.test.every) if test
                                else (self.sample.production_ps, self.sample.every))
        return max(1, round(production_ps * 1000 / self.sample.timestep_fs) // every)

    def for_test_sets(self) -> Profile:
        """This profile with a ``sample`` section that samples the test sets: the pool's state
        points and then ``test.states``, with the ``test`` section's seed, production time and
        stride."""
        test = self.test
        return replace(self, sample=replace(
            self.sample, seed=test.seed, production_ps=test.production_ps, every=test.every,
            states=self.sample.states + test.states))


SECTIONS: dict[str, type] = {
    "system": System, "reference": Reference, "sample": Sample, "split": Split,
    "test": HeldOut, "select": Select, "train": dict, "label": Label, "active": Active,
    "md": MD, "rdf": RDF, "report": Report, "reproduce": Reproduce}
"""The sections of a profile and the record each is read into (``train``: per family, the
family's own settings)."""


def _plain(value):
    """``value`` as JSON data: records as dicts, tuples as lists."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    return json.loads(json.dumps(value))


SCHEMA: dict[str, dict] = {name: (_plain(record()) if record is not dict else {})
                           for name, record in SECTIONS.items()}
"""The package's defaults as a profile file would state them (``train`` filled per family by
:func:`defaults`)."""


POSITIVE, AT_LEAST_1, NON_NEGATIVE = (lambda v: v > 0, "> 0"), (lambda v: v >= 1, ">= 1"), \
    (lambda v: v >= 0, ">= 0")
FRACTION = (lambda v: 0 < v < 1, "between 0 and 1")
RANGES_SEEDS = (lambda v: all(isinstance(k, int) and not isinstance(k, bool) and k >= 0
                              for k in v), "a list of integers >= 0")
MD_MODEL_KEYS: dict[str, Any] = {"seeds": [0], "runs": 1, "time_ps": 1.0}
"""What ``reproduce.md_models.MODEL-SIZE`` may give, with a value of each key's type."""
RANGES: dict[str, tuple] = {
    "system.repeat": AT_LEAST_1, "system.lattice_constant": POSITIVE,
    "active.start_fraction": FRACTION, "active.rounds": AT_LEAST_1,
    "reference.cutoff": POSITIVE, "reference.accuracy": POSITIVE,
    "reference.threads": AT_LEAST_1, "reference.kspace": (lambda v: v in ("pppm", "ewald"),
                                                          "'pppm' or 'ewald'"),
    "sample.timestep_fs": POSITIVE, "sample.equilibrate_ps": NON_NEGATIVE,
    "sample.production_ps": POSITIVE, "sample.every": AT_LEAST_1,
    "sample.melt_temperature": POSITIVE, "sample.melt_ps": NON_NEGATIVE,
    "sample.jobs": AT_LEAST_1, "sample.seed": NON_NEGATIVE,
    "split.test_fraction": FRACTION, "split.seed": NON_NEGATIVE,
    "test.seed": NON_NEGATIVE, "test.production_ps": POSITIVE, "test.every": AT_LEAST_1,
    "select.n": (lambda v: all(isinstance(k, int) and not isinstance(k, bool) and k >= 1
                               for k in v), "a list of integers >= 1"),
    "select.seeds": RANGES_SEEDS,
    "select.methods": (lambda v: all(isinstance(k, str) for k in v), "a list of names"),
    "rdf.rmax": POSITIVE, "rdf.bins": AT_LEAST_1, "rdf.blocks": AT_LEAST_1,
    "report.artifact_threshold": NON_NEGATIVE,
    "report.tail_percent": (lambda v: 0 < v < 50, "between 0 and 50"),
    "report.target_hazard_ratio": (lambda v: v > 1, "> 1"),
    "report.margins": (lambda v: set(v) == {"max", "rmse", "tail_share", "hazard_ratio"}
                       and all(isinstance(m, (int, float)) and m > 0 for m in v.values()),
                       "a margin > 0 for each of max, rmse, tail_share, hazard_ratio"),
    "reproduce.threads": AT_LEAST_1, "reproduce.train_seed_offset": NON_NEGATIVE,
    "reproduce.md_models.seeds": RANGES_SEEDS,
    "reproduce.md_models.runs": AT_LEAST_1, "reproduce.md_models.time_ps": POSITIVE,
}
"""The values each profile key may take (beyond its type), checked at load: a profile that
would fail mid-run is refused before any job is planned. ``train.F.sizes.K`` holds for every
size of family F."""


class ProfileError(InputError):
    """A profile that does not fit the schema."""


def resolve_profile(name_or_path) -> Path:
    """A profile path from a path or from the name of a profile that ships with the package."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    candidate = PROFILES_DIR / f"{name_or_path}.yaml"
    if not candidate.exists():
        known = sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))
        raise ProfileError(f"no profile named '{name_or_path}' (known: {', '.join(known)})")
    return candidate


ACTIVE_COUNTS = {"committee": 3, "gpr-variance": 1, "bal": 1}
"""Models an uncertainty method scores with unless a profile says otherwise: a committee's
members, else one; of the family the registry names for the method."""


@functools.cache
def _defaults() -> dict:
    from mlipselect.models.registry import families, scoring_family

    out = copy.deepcopy(SCHEMA)
    for name, family in families().items():
        out["train"][name] = copy.deepcopy(family.defaults)
        out["reproduce"]["train_n"][name] = family.train_n
    first, family = next(iter(families().items()))
    out["reproduce"]["md_models"] = {f"{first}-{next(iter(family.defaults['sizes']))}": {}}
    for method, count in ACTIVE_COUNTS.items():
        scorer = scoring_family(method)
        if scorer is not None:
            out["active"]["models"][method] = {"family": scorer, "count": count}
    return out


def defaults() -> Profile:
    """The package's defaults as a profile: ``SCHEMA`` with a ``train`` section and a
    training-set size per registered model family, and each uncertainty method's models."""
    return complete_profile({}, "defaults")


def profile_or_defaults(name) -> Profile:
    """The profile ``name`` (a shipped name or a YAML path) loaded, or the package's
    :func:`defaults` when ``name`` is None."""
    return load_profile(name) if name else defaults()


def load_profile(name_or_path) -> Profile:
    """Read, complete and check a profile: every setting it does not state takes its
    default."""
    path = resolve_profile(name_or_path)
    return complete_profile(_raw_profile(path), path)


def _raw_profile(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """The sections ``path`` states, over those of the profile it ``extends`` (a shipped name
    or a path beside it): key by key within a section, so it states only what it changes."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as err:
        raise ProfileError(f"{path}: cannot read ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ProfileError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    if "extends" not in raw:
        return raw
    base_name = raw.pop("extends")
    base = Path(str(base_name))
    base = resolve_profile(path.parent / base if base.suffix in (".yaml", ".yml")
                           and not base.is_absolute() else base_name)
    if base.resolve() in seen or base.resolve() == path.resolve():
        raise ProfileError(f"{path}: extends '{base_name}', which extends it back")
    merged = _raw_profile(base, (*seen, path.resolve()))
    merged.pop("name", None)
    for section, values in raw.items():
        base_values = merged.get(section)
        merged[section] = ({**base_values, **values} if isinstance(values, dict)
                           and isinstance(base_values, dict) else values)
    return merged


def complete_profile(raw: dict, path="profile") -> Profile:
    """``raw`` (sections of a profile, as a file states them) over the :func:`defaults`,
    checked and read into records; ``path`` names it in errors."""
    raw = copy.deepcopy(raw)
    profile: dict[str, Any] = copy.deepcopy(_defaults())
    name = raw.pop("name", Path(str(path)).stem)
    for section, values in raw.items():
        if section not in SCHEMA:
            raise ProfileError(
                f"{path}: unknown section '{section}' (known: {', '.join(SCHEMA)})"
            )
        if not isinstance(values, dict):
            raise ProfileError(f"{path}: section '{section}' must be a mapping")
        known = _defaults()[section]
        for key, value in values.items():
            if section == "train" and key not in known:
                raise ProfileError(f"{path}: no model family '{key}' for train.{key} "
                                   f"(known: {', '.join(known)})")
            if known and key not in known:
                raise ProfileError(
                    f"{path}: unknown key '{section}.{key}' (known: {', '.join(known)})"
                )
            if key in known and section != "train":
                _check_type(path, f"{section}.{key}", value, known[key])
            if section == "train":  # a model family: its own keys over its defaults
                value = _family(path, key, value)
            profile[section][key] = value
    for section in ("sample", "test"):
        for i, state in enumerate(profile[section]["states"]):
            check_state(state, f"{path}: {section}.states[{i}]")
    names = [s["name"] for s in profile["sample"]["states"] + profile["test"]["states"]]
    if len(set(names)) != len(names):
        raise ProfileError(f"{path}: state point names repeat across sample.states and "
                           f"test.states: {names}")
    check_selection_options(profile["select"]["options"], path)
    check_active(profile, path)
    try:
        return Profile(name=name, path=str(path), train=profile.pop("train"),
                       **{section: _record(SECTIONS[section], values)
                          for section, values in profile.items()})
    except InputError as err:
        raise ProfileError(f"{path}: {err}") from None


def _record(record: type, values: dict):
    """The section record of ``values``: lists as tuples, state points as :class:`State`."""
    return record(**{key: tuple(State(**s) for s in value) if key == "states"
                     else tuple(value) if isinstance(value, list) else value
                     for key, value in values.items()})


def _family(path, family: str, given: dict) -> dict:
    """``train.<family>``: the given keys over the family's defaults; each size has every key
    the default sizes have."""
    if not isinstance(given, dict):
        raise ProfileError(f"{path}: train.{family} must be a mapping")
    defaults = _defaults()["train"][family]
    for key, value in given.items():
        if key not in defaults:
            raise ProfileError(f"{path}: unknown key 'train.{family}.{key}' "
                               f"(known: {', '.join(defaults)})")
        _check_type(path, f"train.{family}.{key}", value, defaults[key])
    settings = {**copy.deepcopy(defaults), **given}
    needed = set(next(iter(defaults["sizes"].values())))
    if not settings["sizes"]:
        raise ProfileError(f"{path}: train.{family}.sizes names no size")
    template = next(iter(defaults["sizes"].values()))
    for name, size in settings["sizes"].items():
        if not isinstance(size, dict):
            raise ProfileError(f"{path}: train.{family}.sizes.{name} must be a mapping")
        missing, unknown = sorted(needed - set(size)), sorted(set(size) - needed)
        if missing or unknown:
            raise ProfileError(f"{path}: train.{family}.sizes.{name}: missing keys {missing}, "
                               f"unknown keys {unknown}")
        for key, value in size.items():
            _check_type(path, f"train.{family}.sizes.{name}.{key}", value, template[key],
                        rule=f"train.{family}.sizes.{key}")
    for name, variant in settings["variants"].items():
        _variant(path, family, name, variant, settings, template)
    if settings.get("core_outer", 1) < settings.get("core_inner", 0):
        raise ProfileError(f"{path}: train.{family}.core_outer must not be below core_inner")
    if "smoothing" in settings:  # a SOAP cutoff must exceed its smoothing width
        for name, size in settings["sizes"].items():
            if size["cutoff"] <= settings["smoothing"]:
                raise ProfileError(f"{path}: train.{family}.sizes.{name}.cutoff must be above "
                                   f"train.{family}.smoothing ({settings['smoothing']} A)")
    return settings


def _variant(path, family: str, name: str, variant, settings: dict, template: dict) -> None:
    """Variant ``name`` of a size of ``family``: ``base`` names a size of ``settings``; every
    other key is a key of the family or of its sizes (``template``), with that key's type."""
    where = f"train.{family}.variants.{name}"
    if not isinstance(variant, dict) or variant.get("base") not in settings["sizes"]:
        raise ProfileError(f"{path}: {where} must be a mapping whose 'base' names a size "
                           f"({', '.join(settings['sizes'])})")
    family_keys = {k: v for k, v in settings.items() if k not in ("sizes", "variants")}
    for key, value in variant.items():
        if key == "base":
            continue
        if key not in family_keys and key not in template:
            raise ProfileError(f"{path}: {where}: unknown key '{key}' (known: "
                               f"{', '.join([*template, *family_keys])})")
        _check_type(path, f"{where}.{key}", value, template.get(key, family_keys.get(key)),
                    rule=f"train.{family}.{'sizes.' if key in template else ''}{key}")


def check_reproduction(profile: Profile) -> None:
    """The reproduction's grid fits together: what MD and training use is selected and
    trained. Checked when the study plans its jobs (a profile used for single verbs need not
    describe a whole reproduction)."""
    path, cfg, sel = profile.path, profile.reproduce, profile.select
    states = [s.name for s in profile.sample.states]
    checks = [
        (cfg.md_start_state in states, f"reproduce.md_start_state "
         f"'{cfg.md_start_state}' is not a state point ({', '.join(states)})"),
        (set(cfg.train_n.values()) <= set(sel.n),
         f"reproduce.train_n {cfg.train_n} must be among select.n {list(sel.n)}"),
        (set(cfg.md_methods) <= set(sel.methods),
         f"reproduce.md_methods must be among select.methods {list(sel.methods)}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ProfileError(f"{path}: {message}")
    starts = 0
    for model, md in cfg.md_models.items():
        where = f"{path}: reproduce.md_models.{model}"
        family, _, size = model.partition("-")
        if family not in cfg.train_n or family not in profile.train:
            raise ProfileError(f"{where}: '{model}' must be FAMILY-SIZE with a family of "
                               f"reproduce.train_n ({', '.join(cfg.train_n)})")
        known = [*profile.train[family]["sizes"], *profile.train[family]["variants"]]
        if size not in known:
            raise ProfileError(f"{where}: no {family} size or variant '{size}' (known: "
                               f"{', '.join(known)})")
        if not isinstance(md, dict) or set(md) - set(MD_MODEL_KEYS):
            raise ProfileError(f"{where}: a mapping with keys among {', '.join(MD_MODEL_KEYS)}")
        for key, value in md.items():
            _check_type(path, f"reproduce.md_models.{model}.{key}", value,
                        MD_MODEL_KEYS[key], rule=f"reproduce.md_models.{key}")
        if md.get("time_ps", 0) > profile.md.time_ps:
            raise ProfileError(f"{where}.time_ps ({md['time_ps']}) must be up to md.time_ps "
                               f"({profile.md.time_ps})")
        starts = max(starts, len(md.get("seeds", sel.seeds)) * md.get("runs", 1))
    from mlipselect.models.registry import batches_md

    batched = {model: md.get("runs", 1) for model, md in cfg.md_models.items()
               if batches_md(model.partition("-")[0])}
    if len(set(batched.values())) > 1:
        raise ProfileError(f"{path}: reproduce.md_models: models whose family runs MD as one "
                           f"batch must have as many runs each (one workflow rule makes a "
                           f"model's runs): {batched}")
    if starts > profile.frames_per_state():
        raise ProfileError(f"{path}: reproduce.md_models ask for {starts} runs of one model size "
                           f"and method, each from its own frame, but "
                           f"{cfg.md_start_state} holds {profile.frames_per_state()} frames")


ACTIVE_MODEL_KEYS = ("family", "count")
"""What ``active.models.METHOD`` must give; it may give ``size`` (default: the family's first)
and ``bootstrap`` (a bool)."""


def check_active(profile: dict, path) -> None:
    """``active``: a known initial method, and per method a known family, size and count."""
    from mlipselect.selection import get_method

    active = profile["active"]
    try:
        get_method(active["initial"])
    except InputError as err:
        raise ProfileError(f"{path}: active.initial: {err}") from None
    for method, models in active["models"].items():
        where = f"{path}: active.models.{method}"
        if (not isinstance(models, dict) or not set(ACTIVE_MODEL_KEYS) <= set(models)
                or set(models) - {*ACTIVE_MODEL_KEYS, "size", "bootstrap"}):
            raise ProfileError(f"{where} must be a mapping with keys "
                               f"{', '.join(ACTIVE_MODEL_KEYS)} (and size, bootstrap)")
        if not isinstance(models.get("bootstrap", False), bool):
            raise ProfileError(f"{where}.bootstrap must be true or false")
        family, size, count = models["family"], models.get("size"), models["count"]
        if family not in profile["train"]:
            raise ProfileError(f"{where}.family: no model family '{family}' (known: "
                               f"{', '.join(profile['train'])})")
        sizes = [*profile["train"][family]["sizes"], *profile["train"][family]["variants"]]
        if size is not None and size not in sizes:
            raise ProfileError(f"{where}.size: no {family} size '{size}' (known: "
                               f"{', '.join(sizes)})")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ProfileError(f"{where}.count must be an integer >= 1, got {count!r}")


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


def _check_type(path, key, value, default, rule: str | None = None) -> None:
    """``value`` has the type of ``default`` (an integer for an integer default, a number for
    a float one) and lies in the range ``RANGES`` gives ``rule`` (default: ``key``)."""
    if isinstance(default, bool) or default is None:
        ok = isinstance(value, type(default)) or default is None
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        kind = "an integer" if type(default) is int else type(default).__name__
        raise ProfileError(f"{path}: '{key}' must be {kind}, got {value!r}")
    rule = rule or key
    test, said = RANGES.get(rule, (None, None))
    if rule.startswith("train."):  # a family's own: train.FAMILY.KEY or .sizes.KEY
        from mlipselect.models.registry import registered_family

        family, _, within = rule[len("train."):].partition(".")
        test, said = registered_family(family).ranges.get(within, (None, None))
    if test is not None and not test(value):
        raise ProfileError(f"{path}: '{key}' must be {said}, got {value!r}")


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
