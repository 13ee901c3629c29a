"""Single-site informationally complete POVMs: frames M_a, overlap T, dual frames N^b.

    p(a) = Tr(rho M_a),   rho = sum_b p(b) N^b,   N^b = sum_a T^-1_{ba} M_a,   T_ab = Tr(M_a M_b).

Multi-site frames are tensor products; a string a = (a_1, ..., a_N) with a_i in 0..3 has
M_a = M_{a_1} (x) ... (x) M_{a_N}, the first site the most significant factor (QuTiP's order, basis
index 0 = |up>). With four outcomes per site the frame is minimal, so Tr(M_a N^b) = delta_ab.

Plain NumPy: the tensors are computed once and applied by any framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..model import PAULI, PRODUCT_STATES

I2 = np.eye(2, dtype=complex)

# Bloch vectors of the tetrahedral SIC-POVM (luo2022 Eqs. S9-S12; the same as reh2021 / jVMC).
TETRAHEDRON = np.array([
    [0.0, 0.0, 1.0],
    [2 * np.sqrt(2) / 3, 0.0, -1 / 3],
    [-np.sqrt(2) / 3, np.sqrt(6) / 3, -1 / 3],
    [-np.sqrt(2) / 3, -np.sqrt(6) / 3, -1 / 3],
])

POVM_NAMES = ("tetrahedral", "pauli4")


def _projector(ket: np.ndarray) -> np.ndarray:
    ket = ket / np.linalg.norm(ket)
    return np.outer(ket, ket.conj())


def _frame(name: str) -> np.ndarray:
    if name == "tetrahedral":
        sig = np.stack([PAULI["x"], PAULI["y"], PAULI["z"]])
        return np.stack([(I2 + np.einsum("k,kij->ij", v, sig)) / 4 for v in TETRAHEDRON])
    if name == "pauli4":
        m = [_projector(PRODUCT_STATES[s]) / 3 for s in ("z+", "x+", "y+")]
        return np.stack(m + [I2 - sum(m)])
    raise ValueError(f"unknown POVM {name!r}; allowed: {', '.join(POVM_NAMES)}")


@dataclass(frozen=True, eq=False)
class POVM:
    name: str
    M: np.ndarray  # (4, 2, 2) frame
    T: np.ndarray  # (4, 4) overlap Tr(M_a M_b)
    Tinv: np.ndarray
    N: np.ndarray  # (4, 2, 2) dual frame

    @property
    def k(self) -> int:
        return self.M.shape[0]

    # --- single site ------------------------------------------------------------------------------
    def site_probabilities(self, rho1: np.ndarray) -> np.ndarray:
        """(4,) outcome probabilities of a single-site density matrix (or ket)."""
        rho1 = np.asarray(rho1, complex)
        if rho1.ndim == 1:
            rho1 = _projector(rho1)
        return np.real(np.einsum("aij,ji->a", self.M, rho1))

    def product_probabilities(self, label: str) -> np.ndarray:
        """(4,) single-site distribution of the product state `label` (x+ x- y+ y- z+ z-)."""
        if label not in PRODUCT_STATES:
            raise ValueError(f"unknown product state {label!r}; allowed: {', '.join(PRODUCT_STATES)}")
        return self.site_probabilities(PRODUCT_STATES[label])

    def operator_vector(self, op: np.ndarray) -> np.ndarray:
        """(4,) real vector Tr(O N^b): <O> = sum_b p(b) Tr(O N^b) for a single-site Hermitian O."""
        return np.real(np.einsum("ij,bji->b", op, self.N))

    def pauli_vector(self, pauli: str) -> np.ndarray:
        return self.operator_vector(PAULI[pauli])

    # --- many sites (dense; for tests and tiny systems) -------------------------------------------
    def frame_n(self, n: int) -> np.ndarray:
        """(4^n, 2^n, 2^n) product frame, outcome index sum_i a_i 4^(n-1-i)."""
        return _kron_stack(self.M, n)

    def dual_n(self, n: int) -> np.ndarray:
        return _kron_stack(self.N, n)

    def probabilities(self, rho: np.ndarray) -> np.ndarray:
        """(4^n,) p(a) = Tr(rho M_a) of a dense 2^n x 2^n density matrix."""
        n = int(round(np.log2(rho.shape[0])))
        return np.real(np.einsum("aij,ji->a", self.frame_n(n), rho))

    def density_matrix(self, p: np.ndarray) -> np.ndarray:
        """rho = sum_b p(b) N^b from a (4^n,) distribution."""
        n = int(round(np.log(p.shape[0]) / np.log(4)))
        return np.einsum("b,bij->ij", p, self.dual_n(n))


def _kron_stack(ops: np.ndarray, n: int) -> np.ndarray:
    out = np.ones((1, 1, 1), complex)
    for _ in range(n):
        out = np.einsum("aij,bkl->abikjl", out, ops).reshape(out.shape[0] * ops.shape[0],
                                                             out.shape[1] * 2, out.shape[2] * 2)
    return out


@lru_cache(maxsize=None)
def get_povm(name: str) -> POVM:
    M = _frame(name)
    T = np.real(np.einsum("aij,bji->ab", M, M))
    Tinv = np.linalg.inv(T)
    N = np.einsum("ba,aij->bij", Tinv, M)
    return POVM(name, M, T, Tinv, N)
