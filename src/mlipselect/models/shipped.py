"""The two model families this package ships, as the registry knows them (registered in
``pyproject.toml``): SchNet through schnetpack (:mod:`mlipselect.models.nn`) and a sparse GPR
on SOAP power spectra (:mod:`mlipselect.models.gpr`). Their ``train`` defaults are here,
beside what the study needs of them, so that the profile schema names no family.
"""

from mlipselect.config import AT_LEAST_1, FRACTION, NON_NEGATIVE, POSITIVE
from mlipselect.models.registry import Family

# SchNet (schnetpack). Sizes are named; a workflow trains every size listed.
SCHNET = Family(
    "mlipselect.models.nn:SchNetPotential",
    defaults={
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
    # NAME: {base: SIZE, KEY: VALUE, ...}: a size with some settings changed (e.g. a
    # GPR without its ZBL core, core_outer: 0), trained only where MD asks for it
    "variants": {},
    },
    ranges={
        "epochs": AT_LEAST_1, "batch_size": AT_LEAST_1, "lr": POSITIVE, "lr_factor": FRACTION,
        "lr_patience": NON_NEGATIVE, "min_lr": NON_NEGATIVE, "patience": AT_LEAST_1,
        "energy_weight": NON_NEGATIVE, "forces_weight": NON_NEGATIVE,
        "validation_fraction": FRACTION, "sizes.features": AT_LEAST_1,
        "sizes.interactions": AT_LEAST_1, "sizes.cutoff": POSITIVE, "sizes.rbf": AT_LEAST_1,
    },
    train_n=32, rank=0, batches_md=True, gpu=True, scores=("committee", "bal"),
)

# Sparse GPR on SOAP power spectra (featomic); see mlipselect.models.gpr.
SPARSE_GPR = Family(
    "mlipselect.models.gpr:SparseGPRPotential",
    defaults={
        "sizes": {
            "soap": {"cutoff": 5.0, "max_radial": 3, "max_angular": 2, "sparse_points": 400},
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
    # two-body terms (mlipselect.models.pair): a pair term fitted with the weights,
    # pair_basis Gaussians per species pair up to pair_cutoff (0: none), prior scale
    # pair_sigma (eV); a fixed ZBL core switched off from core_inner to core_outer (A)
    "pair_basis": 16,
    "pair_cutoff": 6.0,
    "pair_sigma": 1.0,
    "core_inner": 1.0,
    "core_outer": 2.0,
    "variants": {},
    },
    ranges={
        "sizes.cutoff": POSITIVE, "sizes.max_radial": NON_NEGATIVE,
        "sizes.max_angular": NON_NEGATIVE, "sizes.sparse_points": AT_LEAST_1,
        "atom_width": POSITIVE, "smoothing": NON_NEGATIVE, "zeta": AT_LEAST_1, "delta": POSITIVE,
        "energy_sigma": POSITIVE, "forces_sigma": POSITIVE,
        "sparse_method": (lambda v: v in ("cur", "random"), "'cur' or 'random'"),
        "jitter": NON_NEGATIVE, "pair_basis": NON_NEGATIVE, "pair_cutoff": NON_NEGATIVE,
        "pair_sigma": POSITIVE, "core_inner": NON_NEGATIVE, "core_outer": NON_NEGATIVE,
    },
    train_n=16, rank=1, scores=("gpr-variance",),
)
