"""Exact steady states: a sparse direct solve in the symmetric sector (fast) or QuTiP's default."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..model import SpinSystem
from .sector import SymmetricSector


@dataclass
class SteadyState:
    rho: np.ndarray  # D x D
    residual: float  # ||L rho||_F
    relative_residual: float  # ||L rho||_F / ||rho||_F
    sector_dim: int


def solve_sector(system: SpinSystem) -> SteadyState:
    """M c = 0 with Tr rho = 1. The trace functional is a left null vector of M, so one diagonal
    row of M is redundant and is replaced by the trace condition, leaving a regular sparse system."""
    sec = SymmetricSector.build(system, even_parity_only=system.conserves_z_parity())
    w = sec.trace_weights
    a = int(np.flatnonzero(w)[0])
    A = sec.M.tolil()
    A[a, :] = w
    b = np.zeros(sec.dim, complex)
    b[a] = 1.0
    c = spla.spsolve(sp.csc_matrix(A.tocsr()), b)
    rho = sec.expand(c)
    rho = 0.5 * (rho + rho.conj().T)
    res = sec.residual_norm(c)
    return SteadyState(rho, res, res / sec.norm(c), sec.dim)


def solve_qutip(system: SpinSystem, **kwargs) -> SteadyState:
    """QuTiP's default steady-state solver, for comparison and cross-checks."""
    import qutip

    from .qutip_model import collapse_operators, hamiltonian, liouvillian

    rho = qutip.steadystate(hamiltonian(system), collapse_operators(system), **kwargs).full()
    L = liouvillian(system).to("csr").data_as("csr_matrix")
    vec = rho.T.ravel()  # QuTiP stacks columns
    res = float(np.linalg.norm(L @ vec))
    return SteadyState(rho, res, res / float(np.linalg.norm(rho)), rho.size)
