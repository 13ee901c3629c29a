"""The model as QuTiP operators (Hamiltonian and collapse operators)."""

from __future__ import annotations

import numpy as np
import qutip

from ..model import PAULI, PRODUCT_STATES, SpinSystem


def _embed(n: int, ops: dict[int, np.ndarray]) -> qutip.Qobj:
    factors = [qutip.Qobj(ops[i]) if i in ops else qutip.qeye(2) for i in range(n)]
    return qutip.tensor(factors).to("csr")


def hamiltonian(system: SpinSystem) -> qutip.Qobj:
    n = system.n_sites
    H = 0 * _embed(n, {})
    for i, j in system.lattice.bonds:
        for a, c in system.bond_terms():
            H += c * _embed(n, {i: PAULI[a], j: PAULI[a]})
    for a, c in system.field_terms():
        for i in range(n):
            H += c * _embed(n, {i: PAULI[a]})
    return H


def collapse_operators(system: SpinSystem) -> list[qutip.Qobj]:
    n = system.n_sites
    return [
        np.sqrt(j.rate) * _embed(n, {i: j.matrix})
        for j in system.jumps
        if j.rate != 0.0
        for i in range(n)
    ]


def liouvillian(system: SpinSystem) -> qutip.Qobj:
    return qutip.liouvillian(hamiltonian(system), collapse_operators(system))


def product_ket(system: SpinSystem, label: str) -> qutip.Qobj:
    return qutip.tensor([qutip.Qobj(PRODUCT_STATES[label].reshape(2, 1))] * system.n_sites)
