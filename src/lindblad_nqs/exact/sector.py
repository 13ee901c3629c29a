"""The Liouvillian restricted to density matrices invariant under the lattice symmetries.

The Liouvillian commutes with every site permutation g that maps bonds to bonds (couplings, field and
jumps are uniform), acting as rho -> U_g rho U_g^dag. A uniform product state, and the unique steady
state, are invariant, so they live in the span of orbit sums |o> = sum_{x in o} |x> over orbits o of
doubled configurations x = (ket, bra). On that span L acts as the matrix
    M[a, o] = sum_{x in o} L[rep_a, x],
because L rho is invariant too and is fixed by its value at each representative. When the model
conserves z parity, the steady state also lies in the even sector parity(ket) = parity(bra), which
halves the space again. On the 3x3 lattice the 262,144 elements of rho shrink to about 1,900 numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..liouvillian import BitConfigs, connected_elements, local_terms
from ..model import PRODUCT_STATES, SpinSystem

MAX_SITES = 12  # the orbit table holds 4^N entries

# Peak memory of SymmetricSector.build, measured on chains of 6-9 sites and the 3x3 lattice (the padded
# connected elements dominate: about 400 bytes per orbit and local term, plus the 4^N orbit tables),
# with a margin. LU_BYTES * dim^1.5: a sparse LU of the full Liouvillian (QuTiP's steadystate, solver qutip).
BYTES_PER_TABLE_ENTRY = 64
BYTES_PER_ORBIT_TERM = 512
LU_BYTES = 1200.0


def estimated_dim(system: SpinSystem, even_parity_only: bool = False) -> int:
    """About the number of orbits (the sector dimension), without building them."""
    g = len(system.lattice.symmetry_permutations)
    return int(1.05 * 4**system.n_sites / g / (2 if even_parity_only else 1)) + 1


def build_bytes(system: SpinSystem, dim: int) -> float:
    """Estimated peak memory of building a sector (or the full Liouvillian) of `dim` orbits."""
    return 4**system.n_sites * BYTES_PER_TABLE_ENTRY + dim * max(1, len(local_terms(system))) * BYTES_PER_ORBIT_TERM


def _permute_bits(perm: np.ndarray, n: int) -> np.ndarray:
    """table[c] = configuration c with site i moved to site perm[i], for every c in [0, 2^n)."""
    c = np.arange(2**n, dtype=np.int64)
    out = np.zeros_like(c)
    for i in range(n):
        out |= ((c >> (n - 1 - i)) & 1) << (n - 1 - perm[i])
    return out


def _popcount_parity(c: np.ndarray) -> np.ndarray:
    p = np.zeros_like(c)
    while np.any(c):
        p ^= c & 1
        c = c >> 1
    return p


@dataclass
class SymmetricSector:
    system: SpinSystem
    orbit_of: np.ndarray  # orbit index of every doubled configuration ket * D + bra (-1: outside)
    reps: np.ndarray  # representative doubled configuration of each orbit
    sizes: np.ndarray  # orbit sizes
    M: sp.csr_matrix  # the Liouvillian on orbit sums

    @classmethod
    def build(cls, system: SpinSystem, even_parity_only: bool = False) -> "SymmetricSector":
        n = system.n_sites
        if n > MAX_SITES:
            raise ValueError(f"exact density-matrix methods need at most {MAX_SITES} sites, got {n}: use mcwf")
        D = 2**n
        tables = np.stack([_permute_bits(g, n) for g in system.lattice.symmetry_permutations])
        x = np.arange(D * D, dtype=np.int64)
        ket, bra = x // D, x % D
        keep = np.ones(D * D, bool)
        if even_parity_only:
            par = _popcount_parity(np.arange(D, dtype=np.int64))
            keep = par[ket] == par[bra]
        ket, bra = ket[keep], bra[keep]
        canon = np.full(ket.shape, np.iinfo(np.int64).max)
        for t in tables:
            np.minimum(canon, t[ket] * D + t[bra], out=canon)
        reps, inverse, sizes = np.unique(canon, return_inverse=True, return_counts=True)
        orbit_of = np.full(D * D, -1, dtype=np.int64)
        orbit_of[x[keep]] = inverse
        kets, bras, mel = connected_elements(system, BitConfigs(reps // D, reps % D), local_terms(system))
        cols = orbit_of[kets * D + bras]
        rows = np.broadcast_to(np.arange(len(reps))[:, None], mel.shape)
        nz = mel != 0
        if np.any(cols[nz] < 0):
            raise AssertionError("the Liouvillian leaves the parity sector: the model does not conserve it")
        M = sp.csr_matrix((mel[nz], (rows[nz], cols[nz])), shape=(len(reps), len(reps)))
        return cls(system, orbit_of, reps, sizes, M)

    @property
    def dim(self) -> int:
        return len(self.reps)

    @property
    def trace_weights(self) -> np.ndarray:
        """w with Tr(rho) = w . c: orbit size on diagonal orbits, zero elsewhere."""
        D = 2**self.system.n_sites
        return np.where(self.reps // D == self.reps % D, self.sizes, 0).astype(float)

    def product_state(self, label: str) -> np.ndarray:
        """Orbit coefficients of the uniform product state |psi><psi|^(x)N."""
        n = self.system.n_sites
        D = 2**n
        psi = PRODUCT_STATES[label]
        ket, bra = self.reps // D, self.reps % D
        c = np.ones(self.dim, complex)
        for i in range(n):
            c *= psi[(ket >> (n - 1 - i)) & 1] * psi[(bra >> (n - 1 - i)) & 1].conj()
        return c

    def expand(self, c: np.ndarray) -> np.ndarray:
        """The full density matrix (D x D) from orbit coefficients."""
        D = 2**self.system.n_sites
        full = np.where(self.orbit_of >= 0, c[np.maximum(self.orbit_of, 0)], 0)
        return full.reshape(D, D)

    def residual_norm(self, c: np.ndarray) -> float:
        """Frobenius norm of L rho over the full space."""
        r = self.M @ c
        return float(np.sqrt(np.sum(self.sizes * np.abs(r) ** 2)))

    def norm(self, c: np.ndarray) -> float:
        return float(np.sqrt(np.sum(self.sizes * np.abs(c) ** 2)))
