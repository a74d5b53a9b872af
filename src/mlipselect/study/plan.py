"""What a profile asks the reproduction to run: the job lists of the workflow's DAG.

The Snakefile in ``reproduce/`` names files and calls verbs; this module is where the
profile's grid (state points, methods x n x seeds, model families x sizes, MD runs) turns into
those file names, so the Snakefile and the report enumerate the same jobs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import product

from mlipselect.errors import InputError

_SELECTION = re.compile(r"^(?P<method>[\w-]+)-n(?P<n>\d+)-s(?P<seed>\d+)$")


def selection_name(method: str, n: int, seed: int) -> str:
    return f"{method}-n{n}-s{seed}"


def parse_selection(name: str) -> dict:
    """``{"method", "n", "seed"}`` of a selection file's name."""
    match = _SELECTION.match(name)
    if match is None:
        raise InputError(f"'{name}' is not a selection name (METHOD-nN-sSEED)")
    return {"method": match["method"], "n": int(match["n"]), "seed": int(match["seed"])}


@dataclass
class Plan:
    """The jobs of one profile."""

    profile: dict

    def __post_init__(self):
        cfg, sel, where = self.profile["reproduce"], self.profile["select"], self.profile["path"]
        checks = [
            (cfg["md_start_state"] in self.states, f"reproduce.md_start_state "
             f"'{cfg['md_start_state']}' is not a state point ({', '.join(self.states)})"),
            (set(cfg["train_n"].values()) <= set(sel["n"]),
             f"reproduce.train_n {cfg['train_n']} must be among select.n {sel['n']}"),
            (set(cfg["md_methods"]) <= set(sel["methods"]),
             f"reproduce.md_methods must be among select.methods {sel['methods']}"),
            (set(cfg["md_seeds"]) <= set(sel["seeds"]),
             f"reproduce.md_seeds must be among select.seeds {sel['seeds']}"),
            (set(cfg["md_models"]) <= set(cfg["train_n"]),
             "reproduce.md_models must name model families of reproduce.train_n"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(f"{where}: {message}")

    def settings(self, *sections: str) -> str:
        """The profile sections a rule depends on, as a stable string: Snakemake reruns a job
        when its params change, so a changed setting reruns exactly the jobs that use it."""
        return json.dumps({name: self.profile[name] for name in sections}, sort_keys=True)

    def state_settings(self, state: str) -> str:
        """Like ``settings`` for one state point: a change to another state leaves it alone."""
        cfg = self.profile["sample"]
        chosen = {**{k: v for k, v in cfg.items() if k != "states"},
                  "state": next(s for s in cfg["states"] if s["name"] == state)}
        return json.dumps({"sample": chosen, "system": self.profile["system"],
                           "reference": self.profile["reference"]}, sort_keys=True)

    @property
    def states(self) -> list[str]:
        return [s["name"] for s in self.profile["sample"]["states"]]

    @property
    def selections(self) -> list[str]:
        sel = self.profile["select"]
        grid = product(sel["methods"], sel["n"], sel["seeds"])
        return [selection_name(m, n, s) for m, n, s in grid]

    def seed_of(self, selection: str) -> int:
        return parse_selection(selection)["seed"]

    @property
    def trained(self) -> list[tuple[str, str]]:
        """``(model-size, selection)`` for every model to train and evaluate."""
        cfg, sel = self.profile["reproduce"], self.profile["select"]
        jobs = []
        for family, n in cfg["train_n"].items():
            for size in self.profile["train"][family]["sizes"]:
                for method, seed in product(sel["methods"], sel["seeds"]):
                    jobs.append((f"{family}-{size}", selection_name(method, n, seed)))
        return jobs

    @property
    def md_runs(self) -> list[str]:
        """Trajectories to analyse: the reference, then one per MD model x method x seed."""
        cfg = self.profile["reproduce"]
        runs = ["reference"]
        for family, size in cfg["md_models"].items():
            n = cfg["train_n"][family]
            for method, seed in product(cfg["md_methods"], cfg["md_seeds"]):
                runs.append(f"{family}-{size}/{selection_name(method, n, seed)}")
        return runs

    @property
    def md_start_state(self) -> str:
        return self.profile["reproduce"]["md_start_state"]
