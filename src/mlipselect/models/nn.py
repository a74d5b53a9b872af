"""SchNet potentials composed from schnetpack 2 modules, trained by a lean loop.

The network is schnetpack's own: ``PairwiseDistances`` (input) -> ``SchNet`` (representation)
-> ``Atomwise`` (per-atom energies, summed) -> :class:`EnergyScale` -> ``Forces`` (minus the
gradient of the energy). :class:`EnergyScale` puts the network's output in physical units: the
energy is ``scale * y + shift * n_atoms``, with ``shift`` the mean energy per atom and ``scale``
the RMS force component of the training frames.

Training (:func:`fit`):

- neighbour lists are built once per frame (vesin, full lists with periodic shifts), so a step
  is only the network: batches of ``batch_size`` frames, shuffled per epoch;
- loss ``energy_weight * MSE(E / n_atoms) + forces_weight * MSE(F)``, both divided by
  ``scale**2``;
- a validation split of ``validation_fraction`` of the frames (at least one when there are
  two or more), Adam, ``ReduceLROnPlateau`` on the validation loss, early stopping after
  ``patience`` epochs without a better validation loss; the best weights are kept;
- ``loss.csv`` in the model directory logs every epoch; a progress bar shows the losses;
- CUDA when torch sees a GPU; the seed fixes initial weights, split and batch order, and a
  CPU run is reproduced bit for bit (deterministic kernels).
"""

from __future__ import annotations

import csv
import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from tqdm.auto import tqdm
from vesin import NeighborList

from mlipselect.errors import InputError
from mlipselect.models.base import Potential, frame_labels

with warnings.catch_warnings():  # schnetpack scripts a module on import; torch deprecates that
    warnings.filterwarnings("ignore", ".*torch.jit.script", FutureWarning)
    import schnetpack as spk
    import schnetpack.properties as props

WEIGHTS = "weights.pt"
LOG = "loss.csv"
CHUNK_ATOMS = 1 << 14
"""Atoms evaluated in one call when a model predicts many frames."""


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class EnergyScale(torch.nn.Module):
    """``energy <- scale * energy + shift * n_atoms``: the network learns a unitless residual."""

    def __init__(self, scale: float = 1.0, shift: float = 0.0):
        super().__init__()
        self.register_buffer("scale", torch.tensor(float(scale)))
        self.register_buffer("shift", torch.tensor(float(shift)))

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        n_atoms = inputs[props.n_atoms].to(self.scale.dtype)
        inputs[props.energy] = self.scale * inputs[props.energy] + self.shift * n_atoms
        return inputs


def build_network(settings: dict, scale: float = 1.0, shift: float = 0.0):
    """The schnetpack model for ``settings`` (features, interactions, cutoff, rbf)."""
    cutoff = float(settings["cutoff"])
    representation = spk.representation.SchNet(
        n_atom_basis=int(settings["features"]),
        n_interactions=int(settings["interactions"]),
        radial_basis=spk.nn.GaussianRBF(n_rbf=int(settings["rbf"]), cutoff=cutoff),
        cutoff_fn=spk.nn.CosineCutoff(cutoff),
    )
    return spk.model.NeuralNetworkPotential(
        representation=representation,
        input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[
            spk.atomistic.Atomwise(n_in=int(settings["features"]), output_key=props.energy),
            EnergyScale(scale, shift),
            spk.atomistic.Forces(energy_key=props.energy, force_key=props.forces),
        ],
    )


def frame_inputs(atoms: Atoms, cutoff: float) -> dict[str, torch.Tensor]:
    """schnetpack's inputs for one frame (float64 on the CPU), neighbour list included."""
    cell = np.asarray(atoms.cell[:], dtype=float)
    i, j, shifts = NeighborList(cutoff=cutoff, full_list=True).compute(
        points=atoms.positions, box=cell, periodic=atoms.pbc, quantities="ijS")
    return {
        props.Z: torch.as_tensor(atoms.numbers, dtype=torch.long),
        props.R: torch.as_tensor(atoms.positions, dtype=torch.float64),
        props.idx_i: torch.as_tensor(i, dtype=torch.long),
        props.idx_j: torch.as_tensor(j, dtype=torch.long),
        props.offsets: torch.as_tensor(shifts @ cell, dtype=torch.float64),
        props.n_atoms: torch.tensor([len(atoms)], dtype=torch.long),
    }


def collate(frames: list[dict[str, torch.Tensor]], dtype: torch.dtype,
            dev: torch.device) -> dict[str, torch.Tensor]:
    """One batch of frames: atoms concatenated, pair indices shifted, ``idx_m`` per atom."""
    starts = np.cumsum([0] + [len(f[props.Z]) for f in frames[:-1]]).tolist()
    pairs = list(zip(frames, starts, strict=True))
    batch = {
        props.Z: torch.cat([f[props.Z] for f in frames]),
        props.R: torch.cat([f[props.R] for f in frames]).to(dtype),
        props.offsets: torch.cat([f[props.offsets] for f in frames]).to(dtype),
        props.idx_i: torch.cat([f[props.idx_i] + s for f, s in pairs]),
        props.idx_j: torch.cat([f[props.idx_j] + s for f, s in pairs]),
        props.n_atoms: torch.cat([f[props.n_atoms] for f in frames]),
        props.idx_m: torch.cat([torch.full((len(f[props.Z]),), m, dtype=torch.long)
                                for m, f in enumerate(frames)]),
    }
    for key in (props.energy, props.forces):
        if key in frames[0]:
            batch[key] = torch.cat([f[key] for f in frames]).to(dtype)
    return {k: v.to(dev) for k, v in batch.items()}


class Trainer:
    """The optimiser, loss and step of one network; :meth:`step` is one batch's update."""

    def __init__(self, network, settings: dict, scale: float):
        self.network = network
        self.w_energy = float(settings["energy_weight"]) / scale**2
        self.w_forces = float(settings["forces_weight"]) / scale**2
        self.optimizer = torch.optim.Adam(network.parameters(), lr=float(settings["lr"]))

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss of ``batch`` and the force errors behind it."""
        pred = self.network(dict(batch))
        n_atoms = batch[props.n_atoms].to(pred[props.energy].dtype)
        e_err = (pred[props.energy] - batch[props.energy]) / n_atoms
        f_err = pred[props.forces] - batch[props.forces]
        return self.w_energy * e_err.pow(2).mean() + self.w_forces * f_err.pow(2).mean(), f_err

    def step(self, batch: dict[str, torch.Tensor]) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        loss, _ = self.loss(batch)
        loss.backward()
        self.optimizer.step()
        return loss.item()


def _split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation frame indices: at least one of each when ``n >= 2``."""
    order = rng.permutation(n)
    n_val = min(max(1, round(fraction * n)), n - 1) if n >= 2 and fraction > 0 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


class SchNetPotential(Potential):
    """A trained SchNet network; predicts in the dtype of its parameters (float32 after
    training; ``network.double()`` gives float64 predictions)."""

    family = "nn"

    def __init__(self, manifest: dict, network):
        super().__init__(manifest)
        self.network = network

    def capacity(self):
        return sum(p.numel() for p in self.network.parameters()), "NN parameters"

    @classmethod
    def fit(cls, frames, manifest, workdir, progress=True):
        # Threaded scatter-adds on the CPU sum in varying order: deterministic kernels make a
        # seed reproduce a CPU run bit for bit, at no measurable cost here.
        deterministic = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(deterministic or device().type == "cpu")
        try:
            return cls._fit(frames, manifest, workdir, progress)
        finally:
            torch.use_deterministic_algorithms(deterministic)

    @classmethod
    def _fit(cls, frames, manifest, workdir, progress):
        settings, seed = manifest["settings"], manifest["seed"]
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        dev = device()
        data = []
        for atoms in frames:
            energy, forces = frame_labels(atoms)
            inputs = frame_inputs(atoms, settings["cutoff"])
            inputs[props.energy] = torch.tensor([energy], dtype=torch.float64)
            inputs[props.forces] = torch.as_tensor(forces, dtype=torch.float64)
            data.append(inputs)
        train_idx, val_idx = _split(len(data), settings["validation_fraction"], rng)
        shift = float(np.mean([d[props.energy].item() / len(d[props.Z]) for d in data]))
        scale = float(torch.cat([data[i][props.forces] for i in train_idx]).pow(2).mean().sqrt())
        scale = scale if scale > 0 else 1.0
        network = build_network(settings, scale, shift).to(dev)
        trainer = Trainer(network, settings, scale)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            trainer.optimizer, factor=settings["lr_factor"], patience=settings["lr_patience"],
            min_lr=settings["min_lr"])
        bs = max(1, int(settings["batch_size"]))
        val_batches = [collate([data[i] for i in val_idx[k:k + bs]], torch.float32, dev)
                       for k in range(0, len(val_idx), bs)]
        generator = torch.Generator().manual_seed(seed)
        best, best_state, waited = math.inf, None, 0
        start = time.perf_counter()
        ends = []  # seconds since start at the end of each epoch
        with open(Path(workdir) / LOG, "w", newline="") as fh:
            log = csv.writer(fh)
            log.writerow(["epoch", "train_loss", "val_loss", "val_forces_rmse", "lr", "seconds"])
            bar = tqdm(range(1, int(settings["epochs"]) + 1), desc="train nn", unit="epoch",
                       disable=not progress)
            for epoch in bar:
                network.train()
                order = train_idx[torch.randperm(len(train_idx), generator=generator).numpy()]
                losses = [trainer.step(collate([data[i] for i in order[k:k + bs]],
                                               torch.float32, dev))
                          for k in range(0, len(order), bs)]
                train_loss = float(np.mean(losses))
                val_loss, val_rmse = _validate(trainer, val_batches) if val_batches else (
                    train_loss, math.nan)
                lr = trainer.optimizer.param_groups[0]["lr"]
                ends.append(time.perf_counter() - start)
                log.writerow([epoch, f"{train_loss:.6g}", f"{val_loss:.6g}", f"{val_rmse:.6g}",
                              f"{lr:.3g}", f"{ends[-1]:.2f}"])
                bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}", lr=f"{lr:.1e}")
                if not math.isfinite(val_loss):
                    raise InputError(f"nn training diverged at epoch {epoch} (loss {val_loss}); "
                                     "lower train.nn.lr")
                scheduler.step(val_loss)
                if val_loss < best:
                    best, waited = val_loss, 0
                    best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
                else:
                    waited += 1
                    if waited >= settings["patience"]:
                        break
        network.load_state_dict(best_state)
        network.eval().requires_grad_(False)  # from here on it only predicts
        # an epoch's time after the first (which warms up kernels and allocator)
        epoch_seconds = (ends[-1] - ends[0]) / (len(ends) - 1) if len(ends) > 1 else ends[0]
        fit = {"epochs": epoch, "best_val_loss": best, "device": str(dev),
               "train_frames": len(train_idx), "val_frames": len(val_idx),
               "epoch_seconds": epoch_seconds}
        return cls({**manifest, "fit": fit}, network)

    def predict(self, atoms):
        return next(self.predict_many([atoms]))

    def predict_many(self, frames, chunk_atoms: int = CHUNK_ATOMS):
        evaluate = self.batched()
        for chunk in _chunks(frames, chunk_atoms):
            for atoms in chunk:
                self.check_species(atoms)
            energy, forces = evaluate(*_images(chunk, evaluate))
            ends = np.cumsum([len(a) for a in chunk])
            forces = forces.cpu().double().numpy()
            yield from zip(energy.cpu().double().tolist(), np.split(forces, ends[:-1]),
                           strict=True)

    def gradient_features(self, frames, chunk_atoms: int = CHUNK_ATOMS):
        evaluate = self.batched()
        for chunk in _chunks(frames, chunk_atoms):
            for atoms in chunk:
                self.check_species(atoms)
            yield evaluate.last_layer_gradient(*_images(chunk, evaluate)).cpu().double().numpy()

    def batched(self) -> SchNetEvaluator:
        return SchNetEvaluator(self.network, float(self.manifest["settings"]["cutoff"]))

    def save_files(self, directory):
        torch.save(self.network.state_dict(), Path(directory) / WEIGHTS)

    @classmethod
    def load_files(cls, directory, manifest):
        network = build_network(manifest["settings"])
        state = torch.load(Path(directory) / WEIGHTS, map_location="cpu", weights_only=True)
        network.load_state_dict(state)
        network.to(device()).eval().requires_grad_(False)
        return cls(manifest, network)


def _chunks(frames, atoms: int):
    """Consecutive lists of ``frames`` of about ``atoms`` atoms each (at least one frame)."""
    chunk: list[Atoms] = []
    held = 0
    for frame in frames:
        chunk.append(frame)
        held += len(frame)
        if held >= atoms:
            yield chunk
            chunk, held = [], 0
    if chunk:
        yield chunk


def _images(frames: list[Atoms], evaluate: SchNetEvaluator) -> tuple[torch.Tensor, ...]:
    """The batched inputs of ``frames`` for ``evaluate``: half neighbour lists, atoms
    concatenated."""
    on = {"device": evaluate.device}
    sizes = [len(a) for a in frames]
    numbers, positions, pair_i, pair_j, offsets = [], [], [], [], []
    start = 0
    for atoms in frames:
        cell = np.asarray(atoms.cell[:], dtype=float)
        i, j, shifts = NeighborList(cutoff=evaluate.cutoff, full_list=False).compute(
            points=atoms.positions, box=cell, periodic=atoms.pbc, quantities="ijS")
        numbers.append(atoms.numbers)
        positions.append(atoms.positions)
        pair_i.append(i + start)
        pair_j.append(j + start)
        offsets.append(shifts @ cell)
        start += len(atoms)
    return (torch.as_tensor(np.concatenate(numbers), **on),
            torch.as_tensor(np.concatenate(positions), **on),
            torch.as_tensor(np.concatenate(pair_i), dtype=torch.long, **on),
            torch.as_tensor(np.concatenate(pair_j), dtype=torch.long, **on),
            torch.as_tensor(np.concatenate(offsets), **on),
            torch.as_tensor(np.repeat(np.arange(len(frames)), sizes), **on),
            torch.as_tensor(sizes, **on))


class SchNetEvaluator:
    """Energies and forces of a trained network on any number of images at once
    (:class:`mlipselect.models.base.BatchedPotential`): :meth:`SchNetPotential.predict` asks
    it for one frame, batched MD for many replicas.

    It computes what schnetpack's forward computes, with the same modules and weights, from
    each pair listed once: a SchNet filter depends on the distance alone, so the filter
    network, radial basis and cutoff run once per pair and feed both directions of the
    convolution. That halves the work on pairs, most of a step (the same numbers to float32
    rounding; tested against the full network).
    """

    def __init__(self, network, cutoff: float):
        param = next(network.parameters())
        self.network, self.cutoff = network, cutoff
        self.dtype, self.device = param.dtype, param.device

    def __call__(self, numbers, positions, pair_i, pair_j, offsets, image, n_atoms):
        atomwise, scale = self.network.output_modules[:2]
        r = positions.to(self.dtype, copy=True).requires_grad_()
        x = self._representation(numbers, r, pair_i, pair_j, offsets)
        per_atom = atomwise.outnet(x).squeeze(-1)
        energy = torch.zeros(len(n_atoms), dtype=self.dtype, device=self.device) \
            .index_add_(0, image, per_atom)
        energy = scale.scale * energy + scale.shift * n_atoms.to(self.dtype)
        (gradient,) = torch.autograd.grad(energy.sum(), r)
        return energy.detach(), -gradient

    def last_layer_gradient(self, numbers, positions, pair_i, pair_j, offsets, image,
                            n_atoms) -> torch.Tensor:
        """Per image, the gradient of its energy with respect to the weights and bias of the
        network's last (linear) layer: ``scale * (sum_i a_i, n_atoms)`` with ``a_i`` atom
        i's input to that layer. Its dot products are the last-layer-gradient kernel of batch
        active learning (Zaverkin et al. 2022)."""
        atomwise, scale = self.network.output_modules[:2]
        with torch.no_grad():
            x = self._representation(numbers, positions.to(self.dtype), pair_i, pair_j,
                                     offsets)
            hidden = atomwise.outnet[:-1](x)
            summed = torch.zeros(len(n_atoms), hidden.shape[1], dtype=self.dtype,
                                 device=self.device).index_add_(0, image, hidden)
            return scale.scale * torch.cat([summed, n_atoms.to(self.dtype)[:, None]], dim=1)

    def _representation(self, numbers, r, pair_i, pair_j, offsets) -> torch.Tensor:
        """SchNet's atom features after the interactions, from each pair listed once (rows
        gathered with ``index_select``, several times faster on a CPU than ``x[index]``)."""
        representation = self.network.representation
        distance = torch.linalg.vector_norm(
            r.index_select(0, pair_j) - r.index_select(0, pair_i) + offsets.to(self.dtype),
            dim=1)
        basis = representation.radial_basis(distance)
        smooth = representation.cutoff_fn(distance)[:, None]
        x = representation.embedding(numbers)
        for interaction in representation.interactions:
            h = interaction.in2f(x)
            filters = interaction.filter_network(basis) * smooth
            message = torch.zeros_like(h) \
                .index_add_(0, pair_i, h.index_select(0, pair_j) * filters) \
                .index_add_(0, pair_j, h.index_select(0, pair_i) * filters)
            x = x + interaction.f2out(message)
        return x


def _validate(trainer: Trainer, batches) -> tuple[float, float]:
    """Mean validation loss and force RMSE (eV/A) over ``batches``."""
    trainer.network.eval()
    losses, sq, count = [], 0.0, 0
    for batch in batches:
        loss, err = trainer.loss(batch)
        losses.append(loss.item())
        err = err.detach()
        sq += float(err.pow(2).sum())
        count += err.numel()
    return float(np.mean(losses)), math.sqrt(sq / count)
