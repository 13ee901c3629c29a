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


LU_MAX_DIM = 8000  # beyond this the LU fill-in of the reduced Liouvillian grows towards dense


def solve_sector(system: SpinSystem, tol: float = 1e-10, t_chunk: float = 5.0, t_max: float = 5000.0) -> SteadyState:
    """The steady state in the symmetric sector.

    Small sectors (the 3x3 lattice: 2,240 unknowns): M c = 0 with Tr rho = 1 by a sparse LU. The trace
    functional is a left null vector of M, so one diagonal row of M is redundant and is replaced by the
    trace condition, leaving a regular system.
    Large sectors (chains of 8-12 sites with few symmetries, where the LU fills in): relaxation,
    c <- exp(M t_chunk) c until ||L rho|| / ||rho|| < tol; it converges at the Liouvillian gap and
    needs only sparse products. The achieved residual is always reported.
    """
    sec = SymmetricSector.build(system, even_parity_only=system.conserves_z_parity())
    w = sec.trace_weights
    if sec.dim <= LU_MAX_DIM:
        a = int(np.flatnonzero(w)[0])
        A = sec.M.tolil()
        A[a, :] = w
        b = np.zeros(sec.dim, complex)
        b[a] = 1.0
        c = spla.spsolve(sp.csc_matrix(A.tocsr()), b)
    else:
        c = np.where(w > 0, 1.0, 0.0).astype(complex)  # the maximally mixed state
        c /= w @ c
        t = 0.0
        while True:
            c = spla.expm_multiply(sec.M * t_chunk, c)
            c /= w @ c
            t += t_chunk
            if sec.residual_norm(c) / sec.norm(c) < tol or t >= t_max:
                break
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
