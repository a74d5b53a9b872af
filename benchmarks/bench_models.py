"""Potentials: prediction cost per configuration, the SchNet training step against
schnetpack's own, and the sparse GPR fit at the paper's scale (time and peak memory).

Frames are rattled rocksalt crystals labelled by the BMHTF reference; model sizes are the
paper profile's.
"""

import copy
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator

from mlipselect.config import load_profile
from mlipselect.reference.calculator import BMHTF
from mlipselect.reference.sampler import rocksalt

from .goals import goal

REPEAT = {64: 2, 216: 3, 1000: 5}


def labelled_frames(ions: int, n: int, seed: int = 0, rattle: float = 0.15) -> list:
    """``n`` rattled rocksalt cells of ``ions`` ions with BMHTF energies and forces."""
    rng = np.random.default_rng(seed)
    reference = BMHTF()
    frames = []
    for _ in range(n):
        atoms = rocksalt(REPEAT[ions], 5.62 * rng.uniform(0.99, 1.03))
        atoms.positions += rng.normal(0, rattle, atoms.positions.shape)
        atoms.calc = reference
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        frames.append(atoms)
    return frames


def paper_profile(**train) -> dict:
    profile = copy.deepcopy(load_profile("paper"))
    for family, values in train.items():
        profile.train[family].update(values)
    return profile


def trained(family: str, size: str, frames: list, **train):
    """A model of the paper profile's ``size`` trained briefly (its cost to predict does not
    depend on how well it is trained)."""
    from mlipselect.models import train_model

    with tempfile.TemporaryDirectory() as tmp:
        return train_model(family, frames, paper_profile(**{family: train}), Path(tmp) / "m",
                           size=size, progress=False).model


class Prediction:
    """Energy and forces of one configuration: each SchNet size of the paper profile, and the
    GPR."""

    params = (["nn-small", "nn-medium", "nn-large", "gpr-soap"], [216, 1000])
    param_names = ["model", "ions"]
    timeout = 600

    def setup(self, model, ions):
        family, size = model.split("-", 1)
        frames = labelled_frames(ions, 2)
        self.model = trained(family, size, frames, **({"epochs": 1} if family == "nn" else {}))
        self.atoms = frames[0]
        self.model.predict(self.atoms)  # warm-up

    def time_energy_forces(self, model, ions):
        self.model.predict(self.atoms)


class TrainingStep:
    """One optimiser step on a batch of 4 frames: our loop against schnetpack's own
    ``AtomisticTask`` forward + backward + step, on the same network and batch."""

    params = (["small", "medium", "large"], [216, 1000])
    param_names = ["size", "ions"]
    timeout = 600

    def setup(self, size, ions):
        import schnetpack as spk
        import torch

        from mlipselect.models import family_settings
        from mlipselect.models.nn import Trainer, build_network, collate, device, frame_inputs

        settings = family_settings(paper_profile(), "nn", size)
        frames = labelled_frames(ions, 4)
        data = []
        for atoms in frames:
            inputs = frame_inputs(atoms, settings["cutoff"])
            inputs["energy"] = torch.tensor([atoms.get_potential_energy()], dtype=torch.float64)
            inputs["forces"] = torch.as_tensor(atoms.get_forces())
            data.append(inputs)
        self.batch = collate(data, torch.float32, device())
        torch.manual_seed(0)
        network = build_network(settings).to(device()).train()
        self.ours = Trainer(network, settings, scale=1.0)
        self.task = spk.task.AtomisticTask(
            model=network,
            outputs=[spk.task.ModelOutput("energy", loss_fn=torch.nn.MSELoss(),
                                          loss_weight=settings["energy_weight"], metrics={}),
                     spk.task.ModelOutput("forces", loss_fn=torch.nn.MSELoss(),
                                          loss_weight=settings["forces_weight"], metrics={})],
            optimizer_cls=torch.optim.Adam, optimizer_args={"lr": settings["lr"]})
        self.task_optimizer = torch.optim.Adam(network.parameters(), lr=settings["lr"])
        deterministic = torch.are_deterministic_algorithms_enabled
        self._restore = deterministic()
        # As fit runs it: deterministic kernels on the CPU.
        torch.use_deterministic_algorithms(device().type == "cpu")
        for _ in range(2):
            self.time_ours(size, ions)
            self.time_schnetpack(size, ions)

    def teardown(self, size, ions):
        import torch

        torch.use_deterministic_algorithms(self._restore)

    def time_ours(self, size, ions):
        self.ours.step(self.batch)
        self._sync()

    def time_schnetpack(self, size, ions):
        self.task_optimizer.zero_grad(set_to_none=True)
        loss = self.task.training_step(dict(self.batch), 0)
        loss.backward()
        self.task_optimizer.step()
        self._sync()

    @goal("<=", 1.2)
    def track_ours_over_schnetpack(self, size, ions):
        """Goal <= 1.2: median of 7 interleaved pairs, robust to a busy machine."""
        ratios = []
        for _ in range(7):
            start = time.perf_counter()
            self.time_ours(size, ions)
            mid = time.perf_counter()
            self.time_schnetpack(size, ions)
            ratios.append((mid - start) / (time.perf_counter() - mid))
        return float(np.median(ratios))

    track_ours_over_schnetpack.unit = "ratio"

    @staticmethod
    def _sync():
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()


class GPRFit:
    """The sparse GPR fit on the paper's GPR set (128 frames of 1000 ions), and on 16: seconds
    and peak memory of the process (the goals: within 24 GB, and 10 minutes on 2 cores)."""

    params = [16, 128]
    param_names = ["frames"]
    timeout = 1800
    number = 1
    repeat = 1

    def setup(self, frames):
        self.frames = labelled_frames(1000, frames, seed=1)

    def _fit(self):
        return trained("gpr", "soap", self.frames)

    def time_fit(self, frames):
        self._fit()

    def peakmem_fit(self, frames):
        self._fit()

    @goal("<=", 24 * 1024)
    def track_fit_peak_memory_mb(self, frames):
        return self._fit().manifest["fit"]["peak_memory_mb"]

    track_fit_peak_memory_mb.unit = "MB"

    @goal("<=", 1.0)
    def track_fit_over_10_minutes(self, frames):
        return self._fit().manifest["fit"]["seconds"] / 600

    track_fit_over_10_minutes.unit = "ratio"
