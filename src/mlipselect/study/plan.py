"""What a profile asks the reproduction to run, and where each result goes.

``Layout`` is the one definition of the results directory: the Snakefile asks it for file
patterns (passing ``"{wildcard}"`` strings) and the report receives the files from the rule.
``Plan`` turns the profile's grid (state points, methods x n x seeds, model families x sizes,
MD runs) into the jobs of the workflow's DAG: the Snakefile's rules take their wildcards and
inputs from it, and :meth:`Plan.jobs` lists every job with the work it does, which the cost
estimate prices (a test holds the list equal to Snakemake's own).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import product
from pathlib import Path

from mlipselect.config import Profile, check_reproduction
from mlipselect.errors import InputError

FIGURES = ("fig1_distributions", "fig2_force_errors", "fig3_rdf")
LABELS_FIGURE = "fig4_labels"
"""Drawn where a labeller relabelled the frames: its labels against the selector's."""
UNCERTAINTY_FIGURE = "fig5_uncertainty"
"""Drawn where selections were learned by a model's uncertainty: Q2's errors and survival."""


def selection_name(method, n, seed) -> str:
    """The name of a selection's files; with ``"{method}", "{n}", "{seed}"`` a pattern."""
    return f"{method}-n{n}-s{seed}"


def selection_parts(name: str) -> tuple[str, int, int]:
    """``(method, n, seed)`` of a :func:`selection_name`."""
    method, n_seed = name.rsplit("-n", 1)
    n, seed = n_seed.split("-s")
    return method, int(n), int(seed)


@dataclass(frozen=True)
class Layout:
    """The files of one reproduction under ``root``; ``relabelled`` where a labeller other
    than the pool's reference labels the training and test frames, ``learned`` where some
    selections are learned by a model's uncertainty."""

    root: str
    relabelled: bool = False
    learned: bool = False

    def state(self, state: str) -> str:
        return f"{self.root}/states/{state}.h5"

    @property
    def pool(self) -> str:
        return f"{self.root}/pool.h5"

    @property
    def test_index(self) -> str:
        """The in-pool test set: pool frames held out of every selection."""
        return f"{self.root}/test.idx"

    def test_state(self, state: str) -> str:
        return f"{self.root}/test/states/{state}.h5"

    def test_pool(self, test_set: str) -> str:
        return f"{self.root}/test/{test_set}.h5"

    def test_frames(self, test_set: str) -> str:
        return f"{self.root}/test/{test_set}.extxyz"

    def selection(self, selection: str) -> str:
        return f"{self.root}/selections/{selection}.extxyz"

    def labelled(self, frames: str) -> str:
        """Frames relabelled by the profile's labeller: a selection, or ``test/TEST_SET``."""
        return f"{self.root}/labelled/{frames}.extxyz"

    @property
    def label_cache(self) -> str:
        """The labeller's labels of every distinct frame (``label.LabelCache``)."""
        return f"{self.root}/labels"

    def model(self, model: str, selection: str) -> str:
        return f"{self.root}/models/{model}/{selection}"

    def metrics(self, test_set: str, model: str, selection: str) -> str:
        return f"{self.root}/metrics/{test_set}/{model}/{selection}.json"

    @property
    def md_start(self) -> str:
        return f"{self.root}/md/start.extxyz"

    def trajectory(self, run: str) -> str:
        return f"{self.root}/md/{run}.extxyz"

    def md_status(self, run: str) -> str:
        """Written beside the trajectory by ``mlipselect md`` (``md.status_path``)."""
        return f"{self.root}/md/{run}.json"

    def rdf(self, run: str) -> str:
        return f"{self.root}/rdf/{run}.csv"

    @property
    def report_outputs(self) -> list[str]:
        """Every file the report writes: the figures, report.json and report.md."""
        figures = [*FIGURES, *([LABELS_FIGURE] if self.relabelled else []),
                   *([UNCERTAINTY_FIGURE] if self.learned else [])]
        return [*(f"{self.root}/figures/{name}{suffix}" for name in figures
                  for suffix in (".png", ".pdf")),
                f"{self.root}/report.json", f"{self.root}/report.md"]


@dataclass(frozen=True)
class MDModel:
    """The MD one model size drives (``reproduce.md_models``)."""

    seeds: list[int]
    """The selection seeds whose models run."""
    runs: int
    """Runs per model, each from its own start frame."""
    time_ps: float


@dataclass(frozen=True)
class Job:
    """One job of the workflow: the rule that runs it, what it makes, the stage it runs in
    (sampling; pool, selections and labels; training; evaluation and MD; g(r) and report)
    and its work as ``(unit, count)`` pairs: ``start`` (a process that imports the light
    verbs), ``model_start`` (one that imports the models), ``sample_step`` (reference MD
    steps in LAMMPS), ``environment`` (atomic environments described), ``label`` (single
    points of the labeller), ``reference_step`` (steps of the reference MD run), and of
    ``model`` (its ``MODEL-SIZE`` whose costs price it): ``train_frame`` (frames x epochs),
    ``predict`` (frames) and ``md_step`` (steps of the job's runs, as one batch where the
    family batches MD)."""

    rule: str
    name: str
    stage: int
    work: tuple[tuple[str, float], ...]
    model: str | None = None
    threads: int = 1
    gpu: bool = False


@dataclass
class Plan:
    """The jobs of one loaded profile, whose grid is checked here."""

    profile: Profile

    def __post_init__(self):
        check_reproduction(self.profile)

    def settings(self, *sections: str) -> str:
        """The profile sections a rule depends on, as a stable string: Snakemake reruns a job
        when its params change, so a changed setting reruns exactly the jobs that use it."""
        return json.dumps({name: self.profile.section(name) for name in sections}, sort_keys=True)

    def model_settings(self, family: str, size: str) -> str:
        """Like ``settings`` for one model size: a change to another size leaves it alone."""
        from mlipselect.models.base import family_settings

        return json.dumps(family_settings(self.profile, family, size), sort_keys=True)

    def state_settings(self, state: str, test: bool = False) -> str:
        """Like ``settings`` for one state point (of the test sets with ``test``): a change to
        another state leaves it alone."""
        cfg = (self.profile.for_test_sets() if test else self.profile).section("sample")
        chosen = {**{k: v for k, v in cfg.items() if k != "states"},
                  "state": next(s for s in cfg["states"] if s["name"] == state)}
        return json.dumps({"sample": chosen, "system": self.profile.section("system"),
                           "reference": self.profile.section("reference")}, sort_keys=True)

    @property
    def states(self) -> list[str]:
        return [s.name for s in self.profile.sample.states]

    @property
    def test_sets(self) -> list[str]:
        """``in-pool`` (held-out pool frames), ``independent`` (new runs at the pool's state
        points) and, where the profile names test states, ``extrapolation``."""
        return ["in-pool", "independent"] + (["extrapolation"] if self.profile.test.states
                                             else [])

    def test_states(self, test_set: str) -> list[str]:
        """The state points a sampled test set is made of."""
        if test_set == "independent":
            return self.states
        return [s.name for s in self.profile.test.states]

    @property
    def selections(self) -> list[str]:
        sel = self.profile.select
        grid = product(sel.methods, sel.n, sel.seeds)
        return [selection_name(m, n, s) for m, n, s in grid]

    @property
    def learned(self) -> list[str]:
        """The methods whose selections are learned in rounds (``mlipselect learn``): those
        the profile gives models in ``active.models``."""
        return [m for m in self.profile.select.methods if m in self.profile.active.models]

    def methods_pattern(self, learned: bool) -> str:
        """A pattern matching the methods that are learned (or selected at once): the
        workflow's ``learn`` and ``select`` rules split the selections by it."""
        methods = [m for m in self.profile.select.methods if (m in self.learned) == learned]
        return f"({'|'.join(map(re.escape, methods))})" if methods else r"(?!)"

    def selection_settings(self, method: str) -> str:
        """What a selection by ``method`` depends on in the profile (as :meth:`settings`):
        its options; for a learned one also the rounds, its models' training and the
        labeller."""
        profile, options = self.profile, self.profile.select.options
        used = {"options": options.get(method, {})}
        if method in self.learned:
            active = profile.active
            used.update(active=profile.section("active"),
                        initial=options.get(active.initial, {}),
                        train=profile.train[active.models[method]["family"]],
                        label=profile.section("label"))
        return json.dumps(used, sort_keys=True)

    @property
    def labeller(self) -> str | None:
        """The calculator that relabels the selections and test sets, or None where the
        pool's own reference labels are kept (labelling again would recompute the same
        numbers)."""
        labeller = self.profile.label.calculator
        return None if labeller == "reference" else labeller

    def training_frames(self, layout: Layout, selection: str) -> str:
        """The labelled frames a model of ``selection`` trains on."""
        if self.labeller is None:
            return layout.selection(selection)
        return layout.labelled(selection)

    def evaluation_frames(self, layout: Layout, test_set: str) -> str:
        """The labelled frames of a test set the models are evaluated on."""
        if self.labeller is None:
            return layout.test_frames(test_set)
        return layout.labelled(f"test/{test_set}")

    def unlabelled(self, layout: Layout, frames: str) -> str:
        """The frames ``layout.labelled(frames)`` is made from."""
        test_set = frames.removeprefix("test/")
        return layout.test_frames(test_set) if test_set != frames else layout.selection(frames)

    @property
    def trained(self) -> list[tuple[str, str]]:
        """``(model-size, selection)`` for every model to train and evaluate."""
        sel = self.profile.select
        jobs = []
        for family, n in self.profile.reproduce.train_n.items():
            for size in self.profile.train[family]["sizes"]:
                for method, seed in product(sel.methods, sel.seeds):
                    jobs.append((f"{family}-{size}", selection_name(method, n, seed)))
        return jobs

    def training_seed(self, selection_seed) -> int:
        """The seed a model of a selection with ``selection_seed`` trains with: the same for
        every method and size at that selection seed, so methods compare in pairs."""
        return int(selection_seed) + self.profile.reproduce.train_seed_offset

    @property
    def md_settings(self) -> dict[str, MDModel]:
        """Each ``MODEL-SIZE`` that drives MD, with its defaults filled in."""
        profile = self.profile
        return {model: MDModel(list(md.get("seeds", profile.select.seeds)), md.get("runs", 1),
                               md.get("time_ps", profile.md.time_ps))
                for model, md in profile.reproduce.md_models.items()}

    @property
    def md_models(self) -> list[str]:
        """The models that drive MD, as ``MODEL-SIZE/SELECTION``: one per MD model size x
        method x selection seed."""
        methods, n = self.profile.reproduce.md_methods, self.profile.reproduce.train_n
        return [f"{model}/{selection_name(method, n[model.split('-')[0]], seed)}"
                for model, md in self.md_settings.items()
                for method, seed in product(methods, md.seeds)]

    @property
    def md_trained(self) -> list[tuple[str, str]]:
        """``(model-size, selection)`` of the MD models outside :attr:`trained` (more seeds,
        size variants): trained for MD only, not evaluated."""
        grid = set(self.trained)
        return [(model, selection) for model, selection in
                (m.split("/") for m in self.md_models) if (model, selection) not in grid]

    @property
    def selections_to_make(self) -> list[str]:
        """Every selection the workflow makes: the profile's grid and the MD models'."""
        extra = [s for _, s in self.md_trained if s not in self.selections]
        return [*self.selections, *dict.fromkeys(extra)]

    def md_runs_of(self, model: str) -> list[str]:
        """The runs of one of :attr:`md_models`, named ``MODEL-SIZE/SELECTION/rK``."""
        return [f"{model}/r{k}" for k in range(self.md_settings[model.split("/")[0]].runs)]

    def md_start(self, run: str) -> tuple[int, int]:
        """``(frame, seed)`` of a run: the frame of the start state it starts from and the
        seed of its Maxwell-Boltzmann momenta and thermostat. Every run of a model size has
        its own frame, spread over the state's frames; the same run of another method shares
        it, so methods compare in pairs."""
        model, selection, k = run.split("/")
        md = self.md_settings[model]
        j = md.seeds.index(selection_parts(selection)[2]) * md.runs + int(k[1:])
        spacing = self.profile.frames_per_state() // (len(md.seeds) * md.runs)
        return j * spacing, j

    def md_starts(self, model_or_run: str) -> str:
        """The ``mlipselect md`` options that start a model's runs (or one run): their frames
        and seeds."""
        runs = self.md_runs_of(model_or_run) if model_or_run.count("/") == 1 else [model_or_run]
        frames, seeds = zip(*map(self.md_start, runs), strict=True)
        return (f"--start-frame {' '.join(map(str, frames))} "
                f"--seed {' '.join(map(str, seeds))}")

    @property
    def md_runs(self) -> list[str]:
        """Model-driven MD runs to compare with the reference."""
        return [run for model in self.md_models for run in self.md_runs_of(model)]

    @property
    def md_jobs(self) -> dict[str, list[str]]:
        """The MD jobs and the runs each makes: all of a model's runs in one job where its
        family batches MD (``models.base.batches_md``), else a job per run."""
        from mlipselect.models.registry import batches_md

        jobs: dict[str, list[str]] = {}
        for model in self.md_models:
            runs = self.md_runs_of(model)
            if batches_md(model.split("-")[0]):
                jobs[model] = runs
            else:
                jobs.update({run: [run] for run in runs})
        return jobs

    @staticmethod
    def uses_gpu(family: str) -> bool:
        """Whether the family's training and MD jobs ask the cluster for a GPU."""
        from mlipselect.models.registry import registered_family

        return registered_family(family).gpu

    def md_models_pattern(self, batched: bool) -> str:
        """A pattern matching the ``MODEL-SIZE`` of the MD models whose family batches MD (or
        does not): the workflow's two MD rules split the models by it."""
        from mlipselect.models.registry import batches_md

        models = [m for m in self.md_settings if batches_md(m.split("-")[0]) == batched]
        return f"({'|'.join(map(re.escape, models))})" if models else r"(?!)"

    @property
    def batch_runs(self) -> list[str]:
        """The names of a batched model's runs (``r0``, ``r1``, ...): one workflow rule makes
        them, so every batched MD model has as many (checked with the profile)."""
        from mlipselect.models.registry import batches_md

        runs = {md.runs for m, md in self.md_settings.items() if batches_md(m.split("-")[0])}
        return [f"r{k}" for k in range(max(runs, default=1))]

    @property
    def md_start_state(self) -> str:
        return self.profile.reproduce.md_start_state

    @property
    def test_frames(self) -> dict[str, int]:
        """Frames in each test set."""
        profile = self.profile
        per_test = profile.frames_per_state(test=True)
        frames = {"in-pool": round(profile.split.test_fraction * self.pool_frames),
                  "independent": len(profile.sample.states) * per_test,
                  "extrapolation": len(profile.test.states) * per_test}
        return {t: frames[t] for t in self.test_sets}

    @property
    def pool_frames(self) -> int:
        return len(self.profile.sample.states) * self.profile.frames_per_state()

    def priced_as(self, model: str) -> str:
        """The ``MODEL-SIZE`` whose costs price ``model``: a variant's base size."""
        family, size = model.split("-", 1)
        base = self.profile.train[family]["variants"].get(size, {}).get("base", size)
        return f"{family}-{base}"

    def jobs(self) -> list[Job]:
        """Every job of a fresh run of the workflow, rule by rule, with its work."""
        from mlipselect.models.registry import batches_md
        from mlipselect.study.claims import STRUCTURE

        profile, cfg = self.profile, self.profile.sample
        threads = profile.reproduce.threads
        out = []
        for test in (False, True):  # stage 0: sampling
            for state in cfg.states + (profile.test.states if test else ()):
                ps = cfg.equilibrate_ps + (cfg.melt_ps if state.phase == "melt" else 0)
                ps += (profile.test if test else cfg).production_ps
                out.append(Job("sample_test_state" if test else "sample_state", state.name,
                               0, (("start", 1), ("sample_step", ps * 1000 / cfg.timestep_fs))))
        # stage 1: pool, selections and labels
        test_frames = self.test_frames
        sampled = [t for t in self.test_sets if t != "in-pool"]
        for rule, names in (("pool", ["pool"]), ("split", ["split"]), ("md_start", ["start"]),
                            ("test_frames_in_pool", ["in-pool"]), ("test_pool", sampled),
                            ("test_frames_sampled", sampled)):
            out += [Job(rule, name, 1, (("start", 1),)) for name in names]
        # the pool's descriptors: computed by the first structure-based selection, then read
        # from the cache (their memory, not their cost)
        environments = self.pool_frames * profile.system.ions
        described = False
        candidates = self.pool_frames - test_frames.get("in-pool", 0)
        for name in self.selections_to_make:
            method = selection_parts(name)[0]
            by_structure = method in STRUCTURE or method in self.learned
            work: tuple[tuple[str, float], ...] = (("start", 1),)
            if by_structure:
                work = ((("model_start", 1), ("environment", environments)) if not described
                        else (("start", 1), ("environment", 0)))
            described = described or by_structure
            out.append(self._learning(name, candidates, work) if method in self.learned
                       else Job("select", name, 1, work))
        if self.labeller:
            frames = {name: selection_parts(name)[1] for name in self.selections_to_make}
            frames.update({f"test/{t}": n for t, n in test_frames.items()})
            out += [Job("label", name, 1, (("start", 1), ("label", n)))
                    for name, n in frames.items()]
        # stage 2: training; stage 3: evaluation and MD
        evaluated, tested = set(self.trained), sum(test_frames.values())
        for model, selection in [*self.trained, *self.md_trained]:
            family = model.split("-")[0]
            epochs = profile.train[family].get("epochs", 1)
            n = profile.reproduce.train_n[family]
            priced, name = self.priced_as(model), f"{model}/{selection}"
            out.append(Job("train", name, 2, (("model_start", 1), ("train_frame", epochs * n)),
                           priced, threads, self.uses_gpu(family)))
            if (model, selection) in evaluated:
                out.append(Job("evaluate", name, 3, (("model_start", 1), ("predict", tested)),
                               priced, threads))
        steps_per_ps = 1000 / profile.md.timestep_fs
        for job in self.md_jobs:  # a model's runs as one batch, or a run
            model = job.split("/")[0]
            family = model.split("-")[0]
            steps = self.md_settings[model].time_ps * steps_per_ps
            out.append(Job("md_batch" if batches_md(family) else "md_model", job, 3,
                           (("model_start", 1), ("md_step", steps)), self.priced_as(model),
                           threads, self.uses_gpu(family)))
        out.append(Job("md_reference", "reference", 3, (
            ("model_start", 1), ("reference_step", profile.md.steps))))
        # stage 4: g(r) and the report (which describes the pool for its coverage figures)
        out += [Job("rdf", run, 4, (("start", 1),)) for run in ["reference", *self.md_runs]]
        out.append(Job("report", "report", 4, (("model_start", 1),
                                               ("environment", environments))))
        return out

    def _learning(self, name: str, candidates: int, work: tuple) -> Job:
        """A selection learned in rounds: each round trains the method's models on the
        frames so far (every epoch) and has each score every candidate."""
        from mlipselect.active.learn import round_sizes
        from mlipselect.models.base import family_settings

        profile, active = self.profile, self.profile.active
        method, n, _ = selection_parts(name)
        spec = active.models[method]
        family, count = spec["family"], spec["count"]
        size = family_settings(profile, family, spec.get("size"))["size"]
        epochs = profile.train[family].get("epochs", 1)
        trained = round_sizes(n, active.start_fraction, active.rounds)[:-1]
        work += (("train_frame", count * epochs * sum(trained)),
                 ("predict", count * candidates * len(trained)))
        return Job("learn", name, 1, work, self.priced_as(f"{family}-{size}"),
                   profile.reproduce.threads, self.uses_gpu(family))


def snakefile() -> Path:
    """The workflow, shipped with the package."""
    return Path(__file__).with_name("Snakefile")


def cluster_profile(name_or_path) -> Path:
    """A Snakemake profile directory: a path, or the name of one shipped with the package."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    shipped = Path(__file__).with_name(str(name_or_path))
    if not (shipped / "config.yaml").is_file():
        raise InputError(f"{name_or_path}: not a Snakemake profile directory (and not a "
                         "profile shipped with mlipselect: slurm)")
    return shipped
