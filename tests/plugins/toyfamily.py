"""A model family from outside the package, registered as another package would register its
own (entry-point group ``mlipselect.families``): a pair potential, Gaussian bumps per species
pair fitted to energies and forces by ridge least squares."""

import numpy as np

from mlipselect.config import AT_LEAST_1, POSITIVE
from mlipselect.models.base import Potential, frame_labels
from mlipselect.models.pair import PairBasis
from mlipselect.models.registry import Family

PARAMETERS = "pair.npz"


class PairPotential(Potential):
    family = "toy"

    def __init__(self, manifest, e0: float, weights: np.ndarray):
        super().__init__(manifest)
        st = manifest["settings"]
        self.basis = PairBasis(self.species, st["cutoff"], st["bumps"])
        self.e0, self.weights = e0, weights

    @classmethod
    def fit(cls, frames, manifest, workdir, progress=True):
        e0 = float(np.mean([frame_labels(a)[0] / len(a) for a in frames]))
        model = cls(manifest, e0, np.zeros(0))
        rows, targets = [], []
        for atoms in frames:
            energy, forces = frame_labels(atoms)
            energy_row, force_rows = model.basis.design(atoms)
            rows += [energy_row / len(atoms), force_rows]
            targets += [[(energy - e0 * len(atoms)) / len(atoms)], forces.ravel()]
        a, b = np.vstack(rows), np.concatenate(targets)
        ridge = float(manifest["settings"]["ridge"])
        model.weights = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ b)
        return model

    def predict(self, atoms):
        self.check_species(atoms)
        energy, forces = self.basis.predict(atoms, self.weights)
        return float(energy + self.e0 * len(atoms)), forces

    def capacity(self):
        return len(self.weights), "pair-basis weights"

    def save_files(self, directory):
        np.savez(directory / PARAMETERS, e0=self.e0, weights=self.weights)

    @classmethod
    def load_files(cls, directory, manifest):
        with np.load(directory / PARAMETERS) as data:
            return cls(manifest, float(data["e0"]), data["weights"])


TOY = Family(
    "toyfamily:PairPotential",
    defaults={"sizes": {"b8": {"cutoff": 5.0, "bumps": 8}}, "ridge": 1e-6, "variants": {}},
    ranges={"sizes.cutoff": POSITIVE, "sizes.bumps": AT_LEAST_1, "ridge": POSITIVE},
    train_n=8,
)
