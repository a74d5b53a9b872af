"""Model-driven MD with a stability guard.

:func:`run_md` integrates NVT (Bussi's thermostat) or NVE from a starting frame with any ASE
calculator, or runs the BMHTF reference inside LAMMPS with the same protocol, and writes frames
with momenta, energy and forces; :func:`run_replicas` runs many such runs of one torch model
as one batch (one model call per step for all). :class:`Guard` stops a run whose ions
collapse, whose temperature runs away or whose numbers stop being finite; the run's status
records why.
"""

from mlipselect.md.guard import Guard, temperature
from mlipselect.md.run import (
    MDRun,
    Status,
    read_status,
    run_md,
    run_replicas,
    simulate,
    simulate_files,
    status_path,
)

__all__ = ["Guard", "MDRun", "Status", "read_status", "run_md", "run_replicas", "simulate",
           "simulate_files", "status_path", "temperature"]
