"""The Lindbladian in POVM form, dp(a)/dt = sum_b L_a^b p(b), built from one- and two-site tensors.

For a local superoperator K on k sites (the model's own, liouvillian.local.superoperator, rate
convention rate (G rho G^dag - 1/2 {G^dag G, rho})), the local POVM generator is

    L_a^b = Tr(M_a K(N^b)) = -i Tr(H [N^b, M_a]) + sum rate Tr(G N^b G^dag M_a - 1/2 G^dag G {N^b, M_a}),

a 4^k x 4^k real matrix, local index sum_m a_m 4^(k-1-m) (first site most significant). Because
Tr(M_a N^b) = delta_ab on untouched sites, the many-site L_a^b is the sum over terms of the local
matrix on the term's sites times deltas elsewhere: a string a connects to at most 1 + 15 * n_bonds
strings b (single-site terms are folded into a bond that contains the site), never 4^N. The terms are
compiled once into an operators.table.LocalTable (`table`), which the JAX and PyTorch solvers apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..liouvillian.local import superoperator
from ..model import SpinSystem
from ..operators.table import LocalTable, build_table
from .frames import POVM, get_povm


def local_generator(povm: POVM, K: np.ndarray) -> np.ndarray:
    """L[a, b] = Tr(M_a K(N^b)) for a row-major superoperator K on k sites (d = 2^k)."""
    d = int(round(np.sqrt(K.shape[0])))
    k = int(round(np.log2(d)))
    Mk, Nk = povm.frame_n(k), povm.dual_n(k)
    # Tr(A X) = sum_ij A[j, i] X[i, j] = vec(A^T) . vec(X) with row-major vec
    Mvec = Mk.transpose(0, 2, 1).reshape(len(Mk), d * d)
    Nvec = Nk.reshape(len(Nk), d * d)
    L = Mvec @ K @ Nvec.T
    if np.max(np.abs(L.imag)) > 1e-10 * max(1.0, np.max(np.abs(L.real))):
        raise AssertionError("POVM generator is not real; the superoperator is not Hermiticity preserving")
    L = np.real(L)
    L[np.abs(L) < 1e-14] = 0.0
    return L


@dataclass(frozen=True)
class POVMTerm:
    sites: tuple[int, ...]
    L: np.ndarray  # (4^k, 4^k), [a_local, b_local]


class POVMLindbladian:
    """The POVM Lindbladian of a SpinSystem as a list of local terms."""

    def __init__(self, system: SpinSystem, povm: POVM | str = "tetrahedral", fold_sites: bool = True):
        self.system = system
        self.povm = get_povm(povm) if isinstance(povm, str) else povm
        self.n = system.n_sites
        self.terms = self._build(fold_sites)
        self.table: LocalTable = build_table(self.n, [(t.sites, t.L) for t in self.terms])

    def _build(self, fold: bool) -> list[POVMTerm]:
        sysm, povm = self.system, self.povm
        bonds = list(sysm.lattice.bonds)
        Hb = sysm.bond_hamiltonian()
        Lb = local_generator(povm, superoperator(Hb, [])) if np.any(Hb) else np.zeros((16, 16))
        jumps = [(j.rate, j.matrix) for j in sysm.jumps if j.rate != 0.0]
        Hs = sysm.site_hamiltonian()
        has_site = bool(np.any(Hs) or jumps)
        Ls = local_generator(povm, superoperator(Hs, jumps)) if has_site else None
        bond_L = {b: Lb.copy() for b in bonds}
        site_terms = []
        eye = np.eye(4)
        if has_site:
            for i in range(self.n):
                host = next((b for b in bonds if i in b), None) if fold else None
                if host is None:
                    site_terms.append(POVMTerm((i,), Ls))
                elif host[0] == i:
                    bond_L[host] += np.kron(Ls, eye)
                else:
                    bond_L[host] += np.kron(eye, Ls)
        return [POVMTerm(tuple(b), L) for b, L in bond_L.items() if np.any(L)] + site_terms

    @property
    def max_connections(self) -> int:
        """The most strings b (a itself included) one string a is connected to (padded)."""
        return self.table.n_connected

    def connected(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For strings a (B, N) with entries 0..3, the strings b with L_a^b != 0 and the coefficients.

        Returns b (B, C, N) int8 and mel (B, C), C = max_connections; column 0 is a itself with the sum
        of all diagonal contributions; padded entries have mel = 0 and b = a. Then
        sum_b L_a^b p(b) = sum_c mel[:, c] p(b[:, c])."""
        return self.table.connected(a)

    # --- dense application (tests, exact enumeration on tiny systems) -----------------------------
    def apply(self, p_of, a: np.ndarray) -> np.ndarray:
        """sum_b L_a^b p(b) for strings a, with p_of(b: (M, N)) -> (M,) any probability function."""
        b, mel = self.connected(a)
        B, C, N = b.shape
        return np.sum(mel * p_of(b.reshape(B * C, N).astype(np.int64)).reshape(B, C), axis=1)

    def dense(self) -> np.ndarray:
        """The full 4^N x 4^N generator (tiny systems only)."""
        a = all_strings(self.n)
        b, mel = self.connected(a)
        idx = string_index(b.reshape(-1, self.n).astype(np.int64)).reshape(b.shape[:2])
        out = np.zeros((4**self.n, 4**self.n))
        np.add.at(out, (np.repeat(np.arange(len(a)), b.shape[1]), idx.ravel()), mel.ravel())
        return out


def all_strings(n: int) -> np.ndarray:
    """All 4^n outcome strings in the order of string_index (first site most significant)."""
    idx = np.arange(4**n)
    return np.stack([(idx // 4 ** (n - 1 - i)) % 4 for i in range(n)], axis=1).astype(np.int64)


def string_index(a: np.ndarray) -> np.ndarray:
    n = a.shape[1]
    return np.asarray(a, np.int64) @ (4 ** np.arange(n - 1, -1, -1, dtype=np.int64))
