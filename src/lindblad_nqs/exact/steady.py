"""Exact steady states: a sparse direct solve in the symmetric sector (fast) or QuTiP's default."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..checks import RunError
from ..model import SpinSystem
from ..model.operators import PAULI
from .sector import LU_BYTES, SymmetricSector, build_bytes, estimated_dim


@dataclass
class SteadyState:
    rho: np.ndarray  # D x D
    residual: float  # ||L rho||_F
    relative_residual: float  # ||L rho||_F / ||rho||_F
    sector_dim: int


LU_MAX_DIM = 8000  # beyond this the LU fill-in of the reduced Liouvillian grows towards dense
# a reduced Liouvillian this ill-conditioned has (numerically) more than one steady state
MAX_CONDITION = 1e12
RELAX_MAX_RESIDUAL = 1e-6  # relaxation that stops at t_max above this has not found the steady state


def conserved_quantity(system: SpinSystem) -> str | None:
    """Why the steady state is not unique, when the model has a strong symmetry that shows it.

    Without jumps every function of H is stationary. When every jump is dephasing along one Pauli axis a
    (L = sigma^a on each site) and the field has no component across a, the parity P = prod_i sigma^a_i
    commutes with H and with every L: Tr(P rho) is conserved and each parity sector has its own steady
    state (sz conservation with Jx = Jy is one case of it)."""
    jumps = [j for j in system.jumps if j.rate != 0.0]
    if not jumps:
        return "the model has no jumps with a non-zero rate, so every function of H is stationary"
    axes = set()
    for j in jumps:
        axes |= {a for a in "xyz" if np.allclose(j.matrix, PAULI[a])}
        if not any(np.allclose(j.matrix, PAULI[a]) for a in "xyz"):
            return None
    if len(axes) == 1:
        (a,) = axes
        across = [c for b, c in zip("xyz", system.h) if b != a]
        if not any(across):
            return (f"every jump is sigma_{a} (dephasing) and the field has no component across {a}, so the "
                    f"parity prod_i sigma^{a}_i is conserved and each of its sectors has a steady state")
    return None


def _not_unique(reason: str) -> RunError:
    return RunError(f"the steady state is not unique: {reason}; solve task.kind dynamics from an initial "
                    "state instead, or add a jump that breaks the conservation")


def steady_bytes(system: SpinSystem, solver: str = "sector") -> float:
    """Estimated peak memory of a steady-state solve, before anything is allocated."""
    if solver == "qutip":
        dim = 4**system.n_sites
        return build_bytes(system, dim) + LU_BYTES * dim**1.5
    dim = estimated_dim(system, system.conserves_z_parity())
    lu = LU_BYTES * dim**1.5 if dim <= LU_MAX_DIM else 0.0
    return build_bytes(system, dim) + lu + 48 * 4**system.n_sites  # the full rho, twice over


def _lu_solve(A: sp.csc_matrix, b: np.ndarray) -> np.ndarray:
    """Solve A c = b; refuse a singular or numerically singular A (more than one steady state)."""
    try:
        lu = spla.splu(A)
    except RuntimeError as e:  # "Factor is exactly singular"
        raise _not_unique(f"the reduced Liouvillian is singular ({e})") from None
    c = lu.solve(b)
    inv = spla.LinearOperator(A.shape, matvec=lu.solve, rmatvec=lambda x: lu.solve(x, trans="H"), dtype=complex)
    cond = spla.norm(A, 1) * spla.onenormest(inv)
    if not np.all(np.isfinite(c)) or not cond < MAX_CONDITION:
        raise _not_unique(f"the reduced Liouvillian is numerically singular (condition number {cond:.2g})")
    return c


def solve_sector(system: SpinSystem, tol: float = 1e-10, t_chunk: float = 5.0, t_max: float = 5000.0) -> SteadyState:
    """The steady state in the symmetric sector.

    Small sectors (the 3x3 lattice: 2,240 unknowns): M c = 0 with Tr rho = 1 by a sparse LU. The trace
    functional is a left null vector of M, so one diagonal row of M is redundant and is replaced by the
    trace condition, leaving a regular system.
    Large sectors (chains of 8-12 sites with few symmetries, where the LU fills in): relaxation,
    c <- exp(M t_chunk) c until ||L rho|| / ||rho|| < tol; it converges at the Liouvillian gap and
    needs only sparse products. The achieved residual is always reported.
    """
    reason = conserved_quantity(system)
    if reason:
        raise _not_unique(reason)
    sec = SymmetricSector.build(system, even_parity_only=system.conserves_z_parity())
    w = sec.trace_weights
    if sec.dim <= LU_MAX_DIM:
        a = int(np.flatnonzero(w)[0])
        A = sec.M.tolil()
        A[a, :] = w
        b = np.zeros(sec.dim, complex)
        b[a] = 1.0
        c = _lu_solve(sp.csc_matrix(A.tocsr()), b)
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
        if not sec.residual_norm(c) / sec.norm(c) < RELAX_MAX_RESIDUAL:
            raise RunError(f"relaxation to the steady state did not converge by t = {t_max:g}: relative residual "
                           f"{sec.residual_norm(c) / sec.norm(c):.2g} (the Liouvillian gap is too small)")
    rho = sec.expand(c)
    rho = 0.5 * (rho + rho.conj().T)
    res = sec.residual_norm(c)
    return SteadyState(rho, res, res / sec.norm(c), sec.dim)


def solve_qutip(system: SpinSystem, **kwargs) -> SteadyState:
    """QuTiP's default steady-state solver, for comparison and cross-checks."""
    import qutip

    from .qutip_model import collapse_operators, hamiltonian, liouvillian

    reason = conserved_quantity(system)
    if reason:
        raise _not_unique(reason)
    rho = qutip.steadystate(hamiltonian(system), collapse_operators(system), **kwargs).full()
    L = liouvillian(system).to("csr").data_as("csr_matrix")
    vec = rho.T.ravel()  # QuTiP stacks columns
    res = float(np.linalg.norm(L @ vec))
    return SteadyState(rho, res, res / float(np.linalg.norm(rho)), rho.size)
