"""The Liouvillian as a sum of local superoperators, one per bond and one per site.

A term on sites S (k = |S| sites) is a 4^k x 4^k matrix K acting on the doubled local configuration:
    (L rho)(sigma, sigma') = sum_S sum_{s_S, s'_S} K_S[(sigma_S, sigma'_S), (s_S, s'_S)] rho(s, s'),
where s, s' equal sigma, sigma' outside S. The doubled local index is  a * 2^k + b, with a (b) the
local index of the ket (bra) configuration, the first site of S the most significant bit, bit 0 = |up>.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model import SpinSystem


@dataclass(frozen=True)
class LocalTerm:
    sites: tuple[int, ...]
    K: np.ndarray


def superoperator(H: np.ndarray, jumps: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """K with (K vec)[a*d + b] = (L X)[a, b] for X a d x d matrix stored row-major."""
    d = H.shape[0]
    eye = np.eye(d)
    # row-major vec(A X B) = (A kron B^T) vec(X)
    K = -1j * (np.kron(H, eye) - np.kron(eye, H.T))
    for rate, L in jumps:
        LdL = L.conj().T @ L
        K += rate * (np.kron(L, L.conj()) - 0.5 * np.kron(LdL, eye) - 0.5 * np.kron(eye, LdL.T))
    return K


def local_terms(system: SpinSystem) -> list[LocalTerm]:
    """One 16x16 term per bond (the coupling) and one 4x4 term per site (field and jumps)."""
    terms = []
    Hb = system.bond_hamiltonian()
    if np.any(Hb):
        Kb = superoperator(Hb, [])
        terms += [LocalTerm(tuple(b), Kb) for b in system.lattice.bonds]
    jumps = [(j.rate, j.matrix) for j in system.jumps if j.rate != 0.0]
    Hs = system.site_hamiltonian()
    if np.any(Hs) or jumps:
        Ks = superoperator(Hs, jumps)
        terms += [LocalTerm((i,), Ks) for i in range(system.n_sites)]
    return terms
