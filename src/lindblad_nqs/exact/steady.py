"""Exact steady states in the symmetric sector (dense LU, or an iterative solve for large sectors), or
QuTiP's default."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.linalg.lapack import zgecon
from threadpoolctl import threadpool_limits

from ..checks import RunError
from ..model import SpinSystem
from ..model.operators import PAULI
from .sector import LU_BYTES as SPARSE_LU_BYTES, SymmetricSector, build_bytes, estimated_dim


@dataclass
class SteadyState:
    rho: np.ndarray  # D x D
    residual: float  # ||L rho||_F
    relative_residual: float  # ||L rho||_F / ||rho||_F
    sector_dim: int
    info: dict = field(default_factory=dict)  # linear_solver, iterations, condition, ...


# Dense LU up to this many unknowns: 16 dim^2 bytes (400 MB at 5,000) and O(dim^3) work (about 1 s at
# 2,240 on 2 cores). The reduced Liouvillian of a 2D lattice fills in its sparse LU almost completely
# (SuperLU: 3.6 million of 5 million entries at 2,240, 6-25x slower than dense), so a sparse direct
# solve has no size at which it wins; beyond this the iterative solve takes over.
DENSE_MAX_DIM = 5000
# a reduced Liouvillian this ill-conditioned has (numerically) more than one steady state
MAX_CONDITION = 1e12
STEADY_TOL = 1e-10  # relative residual ||L rho|| / ||rho|| the iterative solve must reach
ITER_MAX_RESIDUAL = 1e-8  # an iterative solve that ends above this has not found the steady state
ITER_MAX_MATVECS = 20000
GMRES_RESTART = 100
SPARSE_COPY_BYTES = 40 * 30  # the operator with the trace row, about 30 nonzeros per orbit at 16 bytes + index


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
        return build_bytes(system, dim) + SPARSE_LU_BYTES * dim**1.5
    dim = estimated_dim(system, system.conserves_z_parity())
    if dim <= DENSE_MAX_DIM:
        solve = 2 * 16.0 * dim**2  # the dense matrix and its LU
    else:
        solve = 16.0 * dim * (GMRES_RESTART + 12) + SPARSE_COPY_BYTES * dim  # Krylov basis, the operator copy
    return build_bytes(system, dim) + solve + 48 * 4**system.n_sites  # the full rho, twice over


def _trace_system(sec: SymmetricSector):
    """(A, b): M c = 0 with one diagonal row replaced by Tr rho = w . c = 1. The trace functional is a
    left null vector of M, so that row is redundant and A is regular when the steady state is unique."""
    w = sec.trace_weights
    a = int(np.flatnonzero(w)[0])
    M = sec.M.tocsr()
    keep = np.ones(M.shape[0])
    keep[a] = 0.0
    A = (sp.diags(keep) @ M + sp.csr_matrix((w[w != 0], (np.full((w != 0).sum(), a), np.flatnonzero(w))),
                                            shape=M.shape)).tocsr()
    b = np.zeros(sec.dim, complex)
    b[a] = 1.0
    return A, b


def _dense_solve(A: sp.csr_matrix, b: np.ndarray) -> tuple[np.ndarray, dict]:
    """LAPACK LU; refuse a singular or numerically singular A (more than one steady state)."""
    dense = A.toarray()
    anorm = float(np.abs(dense).sum(axis=0).max())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sla.LinAlgWarning)  # an exactly singular A is refused below
        lu, piv = sla.lu_factor(dense, overwrite_a=True, check_finite=False)
    if np.any(np.diag(lu) == 0):
        raise _not_unique("the reduced Liouvillian is singular (a zero pivot of its LU)")
    rcond, _ = zgecon(lu, anorm, norm="1")
    cond = 1.0 / rcond if rcond > 0 else np.inf
    c = sla.lu_solve((lu, piv), b, check_finite=False)
    if not np.all(np.isfinite(c)) or not cond < MAX_CONDITION:
        raise _not_unique(f"the reduced Liouvillian is numerically singular (condition number {cond:.2g})")
    return c, {"linear_solver": "dense LU (LAPACK)", "condition_number": float(cond)}


def _iterative_solve(sec: SymmetricSector, tol: float, max_matvecs: int) -> tuple[np.ndarray, dict]:
    """M c = 0 with Tr rho = 1 by BiCGSTAB, GMRES(restart) where it stalls, both with the Jacobi
    (diagonal) preconditioner; only products with M, no fill-in. Stops on the physical residual
    ||L rho|| / ||rho|| over the full space (orbit sizes as weights), not on the Krylov residual."""
    A, b = _trace_system(sec)
    d = A.diagonal().copy()
    d[d == 0] = 1.0
    precond = spla.LinearOperator(A.shape, matvec=lambda x: x / d, dtype=complex)
    matvecs = [0]

    def matvec(x):
        matvecs[0] += 1
        return A @ x

    op = spla.LinearOperator(A.shape, matvec=matvec, dtype=complex)

    def rel(c):
        c = c / (sec.trace_weights @ c)
        return sec.residual_norm(c) / sec.norm(c)

    c = np.where(sec.trace_weights > 0, 1.0, 0.0).astype(complex)  # the maximally mixed state
    c /= sec.trace_weights @ c
    history = []
    # One BLAS thread: the Krylov loop is vector updates and dot products, which threads do not speed up
    # at these lengths and which, with a second job on the cores, wait on each other (10 ms instead of
    # 10 us per dot product of 16,512 numbers, measured on a loaded 2-core machine).
    with threadpool_limits(limits=1):
        # the Krylov tolerance is relative to ||b|| = 1; rho's own norm is about 2^(-N/2) and up to the
        # orbit sizes enter the physical residual, so the Krylov target is set well below tol
        krylov_tol = tol * 1e-3
        for name in ("bicgstab", "gmres", "gmres", "gmres"):
            if matvecs[0] >= max_matvecs:
                break
            budget = max_matvecs - matvecs[0]
            if name == "bicgstab":
                c, _ = spla.bicgstab(op, b, x0=c, rtol=krylov_tol, atol=0.0, maxiter=budget // 2, M=precond)
            else:
                c, _ = spla.gmres(op, b, x0=c, rtol=krylov_tol, atol=0.0, restart=GMRES_RESTART,
                                  maxiter=max(1, budget // GMRES_RESTART), M=precond)
            r = rel(c) if np.all(np.isfinite(c)) else np.inf
            history.append(f"{name}: {r:.2g}")
            if not np.isfinite(r):
                c = np.where(sec.trace_weights > 0, 1.0, 0.0).astype(complex) / sec.trace_weights.sum()
                continue
            if r < tol:
                break
            krylov_tol *= 1e-2
    r = rel(c) if np.all(np.isfinite(c)) else np.inf
    info = {"linear_solver": "BiCGSTAB/GMRES, Jacobi preconditioner", "iterations": int(matvecs[0]),
            "iterative_relative_residual": float(r), "iterative_stages": "; ".join(history)}
    if not r < ITER_MAX_RESIDUAL:
        raise RunError(f"the iterative steady-state solve did not converge in {matvecs[0]} products with the "
                       f"Liouvillian: relative residual {r:.2g} ({info['iterative_stages']}); the Liouvillian "
                       "gap may be too small, or the steady state not unique")
    return c, info


def solve_sector(system: SpinSystem, tol: float = STEADY_TOL, method: str = "auto",
                 max_matvecs: int = ITER_MAX_MATVECS) -> SteadyState:
    """The steady state in the symmetric sector.

    method "auto": a dense LU for sectors up to DENSE_MAX_DIM unknowns (the 3x3 lattice: 2,240), the
    iterative solve beyond (chains of 8-12 sites); "dense" and "iterative" force one of them. The
    achieved residual is always reported, with the solver, its iterations or condition number in info.
    """
    reason = conserved_quantity(system)
    if reason:
        raise _not_unique(reason)
    sec = SymmetricSector.build(system, even_parity_only=system.conserves_z_parity())
    if method not in ("auto", "dense", "iterative"):
        raise ValueError(f"method must be auto, dense or iterative, got {method!r}")
    if method == "dense" or (method == "auto" and sec.dim <= DENSE_MAX_DIM):
        c, info = _dense_solve(*_trace_system(sec))
    else:
        c, info = _iterative_solve(sec, tol, max_matvecs)
    c = c / (sec.trace_weights @ c)
    rho = sec.expand(c)
    rho = 0.5 * (rho + rho.conj().T)
    res = sec.residual_norm(c)
    return SteadyState(rho, res, res / sec.norm(c), sec.dim, info)


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
    return SteadyState(rho, res, res / float(np.linalg.norm(rho)), rho.size, {"linear_solver": "qutip steadystate"})
