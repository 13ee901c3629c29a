"""Closed-system dynamics on the full 2^N state space: <O>(t) from exp(-iHt)|psi0>, the independent
reference of the MPS method (tebd) at sizes where a state vector still fits (N <= ~20)."""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as sla

from ..model.operators import PAULI
from ..observables import evaluate
from .qutip_model import hamiltonian, product_ket


def state_vector_dynamics(spec) -> dict:
    """{(t, observable): value} at spec.task.save_times for a dynamics spec of a closed system (its jumps
    are ignored: call it only for gamma = 0, where rho stays pure)."""
    n = spec.system.n_sites
    H = hamiltonian(spec.system).data_as("csr_matrix")
    psi0 = product_ket(spec.system, spec.task.initial).full().ravel()
    times = spec.task.save_times
    states = sla.expm_multiply(-1j * H, psi0, start=times[0], stop=times[-1], num=len(times), endpoint=True)

    def apply(psi, string):
        t = psi.reshape([2] * n)
        for s, a in string.items():
            t = np.moveaxis(np.tensordot(PAULI[a], t, axes=([1], [s])), 0, s)
        return t.ravel()

    out = {}
    for t, psi in zip(times, states):
        for o in spec.observables:
            out[(round(float(t), 9), o.name)] = evaluate(o, lambda s: float(np.real(np.vdot(psi, apply(psi, s)))))
    return out
