"""What a reproduction costs before it runs: ``mlipselect reproduce --estimate``.

Each job of the plan is a count of work that the profile fixes (MD steps, epochs x training
frames, single points, test frames) times a cost per unit of that work measured on this
machine. The calibration runs each kind of work briefly at the profile's system size, each in
a process of its own (so that its peak memory is its own): a few LAMMPS steps of the
reference, one single point of the labeller, and per model size a few training epochs, force
calls and MD steps. It is cached per machine and per the settings it measured, so a second
estimate costs nothing. Wall time: the stages of the workflow (sampling; pool, selection and
labelling; training; evaluation and MD; g(r) and report) run one after the other, and each
stage's jobs are packed onto the cores longest first.

Training is costed at the profile's full epoch count (early stopping can only shorten it).
"""

from __future__ import annotations

import concurrent.futures
import heapq
import json
import multiprocessing
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mlipselect.config import Profile
from mlipselect.io import work_key
from mlipselect.models.base import peak_memory_mb
from mlipselect.study.plan import Job, Plan

DAY_S = 86_400.0
CALIBRATION_FRAMES = 4
CALIBRATION_EPOCHS = 3
MD_STEPS = 20


@dataclass(frozen=True)
class Costed:
    """A job of the workflow (:class:`~mlipselect.study.plan.Job`) as the estimate sees it:
    its rule, what it makes, its cost in seconds on its threads, its peak memory and the
    stage it runs in."""

    rule: str
    name: str
    seconds: float
    memory_mb: float
    threads: int = 1
    gpu: bool = False
    stage: int = 0


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _short_profile(profile: Profile) -> Profile:
    """The profile with sampling cut to a few frames at its MD start state."""
    sample = profile.sample
    state = next(s for s in sample.states if s.name == profile.reproduce.md_start_state)
    return replace(profile, sample=replace(
        sample, states=(state,), equilibrate_ps=0.1, melt_ps=0.1,
        production_ps=CALIBRATION_FRAMES * sample.every * sample.timestep_fs / 1000))


def _sample(profile: Profile, out: str) -> dict:
    """Sample the calibration frames; seconds per MD step of the reference inside LAMMPS."""
    from mlipselect.reference.sampler import StateRun, pool_metadata

    run = StateRun(_short_profile(profile), 0)
    try:
        seconds = _timed(lambda: run.write(out, pool_metadata(profile), progress=False))
    finally:
        run.close()
    return {"step_s": seconds / (run.n_frames * run.every), "memory_mb": peak_memory_mb()}


def _frames(pool_path: str) -> list:
    from mlipselect.pool.store import Pool

    with Pool(pool_path) as pool:
        return list(pool.frames())


def _single_point(pool_path: str, profile: Profile, labeller: str) -> dict:
    """Seconds per single point of ``labeller`` ('reference': BMHTF through ASE)."""
    from mlipselect.label import make_calculator, single_point

    atoms = _frames(pool_path)[0]
    calc = make_calculator(labeller, profile.section("reference"), profile.label.settings)
    single_point(atoms, calc)  # warm-up
    return {"step_s": _timed(lambda: single_point(atoms, calc)), "memory_mb": peak_memory_mb()}


def model_costs(family: str, frames: list, profile: Profile, size: str) -> dict:
    """Costs of one model size on whatever device it picks: training seconds per frame (per
    epoch where the family trains in epochs, else per fit), seconds per energy+forces call,
    seconds per guarded NVT step of one MD job (the runs of a batched model,
    ``Plan.batch_runs``, as one batch where the family batches MD, else one run) and peak
    memory."""
    from mlipselect.config import MD
    from mlipselect.md.batched import BatchedEngine
    from mlipselect.md.engines import AseEngine
    from mlipselect.md.guard import Guard
    from mlipselect.md.run import starting_state
    from mlipselect.models import train_model

    def synced(call):
        seconds = _timed(call)
        torch = sys.modules.get("torch")  # a family on a GPU has imported it
        if torch is not None and torch.cuda.is_available():
            torch.cuda.synchronize()
        return seconds

    if "epochs" in profile.train[family]:  # a few epochs give the cost of one
        profile = replace(profile, train={**profile.train, family: {
            **profile.train[family], "epochs": CALIBRATION_EPOCHS,
            "patience": CALIBRATION_EPOCHS}})
    with tempfile.TemporaryDirectory() as tmp:
        model = train_model(family, frames, profile, Path(tmp) / "m", size=size,
                            progress=False).model
    fit = model.manifest["fit"]
    train_s = fit.get("epoch_seconds", fit["seconds"]) / len(frames)
    atoms = frames[0].copy()
    model.predict(atoms)  # warm-up: kernels, allocator
    predict_s = float(np.median([synced(lambda: model.predict(atoms)) for _ in range(5)]))
    settings = MD(temperature=profile.md.temperature, timestep_fs=profile.md.timestep_fs)
    batched = model.batched()
    runs = len(Plan(profile).batch_runs) if batched is not None else 1
    starts = [starting_state(frames[k % len(frames)], settings.temperature, k)
              for k in range(runs)]
    guard = Guard(settings.min_distance, 1e9)
    if batched is not None:
        replicas = BatchedEngine(starts, batched, settings, list(range(runs)))

        def guarded_steps():
            for _ in range(MD_STEPS):
                replicas.step()
                replicas.check(guard, [True] * runs)

        replicas.step()
        md_s = synced(guarded_steps) / MD_STEPS
    else:
        engine = AseEngine(starts[0], model.calculator(), settings, 0)
        engine.advance(2, guard)
        md_s = synced(lambda: engine.advance(MD_STEPS, guard)) / MD_STEPS
    return {"train_s_per_frame": train_s, "predict_s": predict_s, "md_step_s": md_s,
            "ions": len(atoms), "memory_mb": peak_memory_mb()}


def _model(pool_path: str, profile: Profile, family: str, size: str) -> dict:
    return model_costs(family, _frames(pool_path), profile, size)


def _descriptors(pool_path: str) -> dict:
    """Seconds per atomic environment of the SOAP descriptors that the structure-based
    selections and the report's coverage use (after a first call has set them up)."""
    from mlipselect.descriptors import SETTINGS, frame_descriptors

    frames = _frames(pool_path)
    species = sorted({int(z) for a in frames for z in a.numbers})
    frame_descriptors(frames, len(frames), species, SETTINGS)
    seconds = _timed(lambda: frame_descriptors(frames, len(frames), species, SETTINGS))
    return {"env_s": seconds / sum(len(a) for a in frames), "memory_mb": peak_memory_mb()}


STARTUP_IMPORTS = {
    # what a job's process imports before it works: the light verbs (pool files, frames, g(r))
    "light": "import mlipselect.cli, mlipselect.pool.frames_io, mlipselect.analysis.rdf",
    # the model verbs (train, evaluate, md, report): torch, schnetpack, featomic, matplotlib
    "models": "import mlipselect.models.nn, mlipselect.models.gpr, mlipselect.study.figures",
}


def _startup(imports: str) -> dict:
    """Seconds (the fastest of three, as with warm disk caches) and memory for a job's
    process to start and import ``imports``."""
    command = [sys.executable, "-W", "ignore::FutureWarning", "-c", imports]
    seconds = min(_timed(lambda: subprocess.run(command, check=True)) for _ in range(3))
    return {"seconds": seconds,
            "memory_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def _job_process(threads: int) -> None:
    """Set up a calibration process as the workflow sets up a job's: its threads (before
    torch or OpenMP start), and no warnings at import."""
    import warnings

    os.environ["OMP_NUM_THREADS"] = str(threads)
    warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation, at import


def _in_own_process(threads: int, function, *args) -> dict:
    """``function(*args)`` in a fresh process with ``threads`` threads, as the job it
    stands for runs: its peak memory is its own."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context, initializer=_job_process,
                                                initargs=(threads,)) as pool:
        return pool.submit(function, *args).result()


def calibration_key(profile: Profile) -> str:
    """What a calibration measured: the machine, and the settings that change the costs."""
    import torch

    described = {"machine": [platform.node(), platform.processor(), os.cpu_count(),
                             torch.cuda.get_device_name(0) if torch.cuda.is_available()
                             else "cpu"],
                 "settings": {k: profile.section(k) for k in ("system", "reference", "label",
                                                              "train", "md")},
                 # an MD step is measured for one job: all of a model's runs, batched
                 "md_runs_per_job": len(Plan(profile).batch_runs)}
    return work_key(described)


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlipselect"


def calibrate(profile: Profile, progress=print) -> dict:
    """Per-unit costs for ``profile`` on this machine, measured or read from the cache."""
    path = cache_dir() / f"calibration-{calibration_key(profile)}.json"
    if path.is_file():
        return json.loads(path.read_text())
    costs: dict = {"models": {}}
    threads, ref_threads = profile.reproduce.threads, profile.reference.threads
    with tempfile.TemporaryDirectory() as tmp:
        pool = str(Path(tmp) / "frames.h5")
        # first: the children's peak memory so far is the imports' own
        costs["startup"] = {kind: _startup(imports) for kind, imports in STARTUP_IMPORTS.items()}
        progress("calibrating: reference MD in LAMMPS")
        costs["sample"] = _in_own_process(ref_threads, _sample, profile, pool)
        costs["descriptors"] = _in_own_process(1, _descriptors, pool)
        progress("calibrating: reference single points")
        costs["reference_point"] = _in_own_process(1, _single_point, pool, profile, "reference")
        labeller = profile.label.calculator
        if labeller != "reference":
            progress(f"calibrating: {labeller} single points")
            costs["label"] = _in_own_process(ref_threads, _single_point, pool, profile, labeller)
        for family in profile.reproduce.train_n:
            for size in profile.train[family]["sizes"]:
                progress(f"calibrating: {family} {size}")
                costs["models"][f"{family}-{size}"] = _in_own_process(
                    threads, _model, pool, profile, family, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(costs, indent=1))
    return costs


def priced(job: Job, costs: dict, profile: Profile) -> Costed:
    """``job`` of the plan with its seconds (each unit of its work times that unit's cost in
    ``costs``, :func:`calibrate`) and its peak memory (the largest of the costs it draws on)."""
    reference = "sample" if profile.md.reference_engine == "lammps" else "reference_point"
    model = costs["models"][job.model] if job.model else {}
    units = {"start": (costs["startup"]["light"], "seconds"),
             "model_start": (costs["startup"]["models"], "seconds"),
             "sample_step": (costs["sample"], "step_s"),
             "environment": (costs["descriptors"], "env_s"),
             "label": (costs.get("label"), "step_s"),
             "reference_step": (costs[reference], "step_s"),
             "train_frame": (model, "train_s_per_frame"),
             "predict": (model, "predict_s"),
             "md_step": (model, "md_step_s")}
    drawn = [(units[unit], count) for unit, count in job.work]
    return Costed(job.rule, job.name, sum(cost[key] * count for (cost, key), count in drawn),
                  max(cost["memory_mb"] for (cost, _), _ in drawn), job.threads, job.gpu,
                  job.stage)


def jobs(plan: Plan, costs: dict) -> list[Costed]:
    """Every job of ``plan`` (:meth:`Plan.jobs`) with its cost from ``costs``."""
    return [priced(job, costs, plan.profile) for job in plan.jobs()]


def _packed(jobs_: list[Costed], slots: int) -> float:
    """When the last of ``jobs_`` ends, packed onto ``slots`` longest first (a job takes its
    threads' worth of slots)."""
    free = [0.0] * slots
    for job in sorted(jobs_, key=lambda j: -j.seconds):
        width = min(job.threads, slots)
        end = max(heapq.heappop(free) for _ in range(width)) + job.seconds
        for _ in range(width):
            heapq.heappush(free, end)
    return max(free)


def wall_seconds(jobs_: list[Costed], cores: int, gpus: int = 0) -> float:
    """Stage by stage: each stage's jobs packed onto ``cores``, and its GPU jobs onto
    ``gpus`` at the same time where there are any."""
    total = 0.0
    for stage in sorted({j.stage for j in jobs_}):
        here = [j for j in jobs_ if j.stage == stage]
        on_gpu = [j for j in here if j.gpu and gpus]
        on_cpu = [j for j in here if not (j.gpu and gpus)]
        total += max(_packed(on_cpu, cores) if on_cpu else 0.0,
                     _packed([Costed(j.rule, j.name, j.seconds, j.memory_mb) for j in on_gpu],
                             gpus) if on_gpu else 0.0)
    return total


def summary(jobs_: list[Costed], cores: int, gpu: str | None) -> dict:
    """Per rule and in total: jobs, core-hours, GPU-hours (the NN jobs, where a GPU ran the
    calibration), peak memory; the wall time on ``cores``; the rules that dominate; the jobs
    that no single node finishes in a day."""
    rules: dict[str, dict] = {}
    for job in jobs_:
        row = rules.setdefault(job.rule, {"jobs": 0, "core_hours": 0.0, "gpu_hours": 0.0,
                                          "peak_memory_mb": 0.0, "longest_hours": 0.0})
        hours = job.seconds / 3600
        row["jobs"] += 1
        row["core_hours"] += 0.0 if (job.gpu and gpu) else hours * job.threads
        row["gpu_hours"] += hours if (job.gpu and gpu) else 0.0
        row["peak_memory_mb"] = max(row["peak_memory_mb"], job.memory_mb)
        row["longest_hours"] = max(row["longest_hours"], hours)
    total = sum(r["core_hours"] + r["gpu_hours"] for r in rules.values())
    dominant = sorted(rules, key=lambda r: -(rules[r]["core_hours"] + rules[r]["gpu_hours"]))
    return {
        "rules": rules,
        "core_hours": sum(r["core_hours"] for r in rules.values()),
        "gpu_hours": sum(r["gpu_hours"] for r in rules.values()),
        "peak_memory_mb": max(r["peak_memory_mb"] for r in rules.values()),
        "wall_hours": wall_seconds(jobs_, cores, 1 if gpu else 0) / 3600,
        "cores": cores,
        "gpu": gpu,
        "dominant": [r for r in dominant[:3]
                     if rules[r]["core_hours"] + rules[r]["gpu_hours"] > 0.1 * total],
        "over_a_day": sorted(f"{j.rule} {j.name}" for j in jobs_ if j.seconds > DAY_S),
    }


def table(result: dict) -> str:
    """The estimate as a plain-text table for the terminal."""
    lines = [f"{'rule':<20} {'jobs':>5} {'core-h':>9} {'GPU-h':>8} {'longest h':>10} "
             f"{'peak MB':>8}"]
    for rule, r in sorted(result["rules"].items(), key=lambda kv: -kv[1]["core_hours"]):
        lines.append(f"{rule:<20} {r['jobs']:>5} {r['core_hours']:>9.2f} {r['gpu_hours']:>8.2f} "
                     f"{r['longest_hours']:>10.2f} {r['peak_memory_mb']:>8.0f}")
    wall = result["wall_hours"]
    lines += [f"{'total':<20} {sum(r['jobs'] for r in result['rules'].values()):>5} "
              f"{result['core_hours']:>9.2f} {result['gpu_hours']:>8.2f}",
              "",
              f"wall time on {result['cores']} cores: {wall:.2f} h ({60 * wall:.0f} min)"
              + (f", NN jobs on one {result['gpu']}" if result["gpu"] else ""),
              f"dominated by: {', '.join(result['dominant'])}"]
    if not result["gpu"]:
        lines.append("GPU: none seen here; NN training and MD are costed on this CPU (estimate "
                     "on a GPU machine for GPU-hours)")
    if result["over_a_day"]:
        lines.append(f"{len(result['over_a_day'])} job(s) need more than a day on one node, "
                     f"e.g. {result['over_a_day'][0]}: shorten them or split them")
    return "\n".join(lines)
