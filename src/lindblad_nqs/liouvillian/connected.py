"""Connected elements of the doubled-basis Liouvillian for configurations stored as bit integers.

A spin configuration of N sites is an integer in [0, 2^N): site i is bit N-1-i (site 0 most
significant, QuTiP's tensor order) and bit 0 means |up>. A doubled configuration is (ket, bra). The
Liouvillian's table (`liouvillian_table`) holds the local superoperators on the 4-state digits
2 * ket + bra of operators.table; every framework applies that one table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..model import SpinSystem
from ..operators.table import LocalTable, build_table
from .local import LocalTerm, local_terms

CHUNK = 16384  # configurations per block of connected_elements: bounds its temporaries


@dataclass(frozen=True)
class BitConfigs:
    ket: np.ndarray
    bra: np.ndarray


def _digit_order(k: int) -> np.ndarray:
    """perm[i] = the local index ket * 2^k + bra of liouvillian.local for the digit index i of k sites."""
    d = (np.arange(4**k)[:, None] // 4 ** np.arange(k - 1, -1, -1)) % 4  # (4^k, k) digits
    place = 2 ** np.arange(k - 1, -1, -1)
    return ((d >> 1) @ place) * 2**k + (d & 1) @ place


def liouvillian_table(system: SpinSystem, adjoint: bool = False, terms: list[LocalTerm] | None = None) -> LocalTable:
    """The Liouvillian of `system` (its adjoint L^dag if `adjoint`) as a table on the digits 2 * ket + bra."""
    terms = local_terms(system) if terms is None else terms
    out = []
    for t in terms:
        p = _digit_order(len(t.sites))
        K = t.K.conj().T if adjoint else t.K
        out.append((t.sites, K[p][:, p]))
    return build_table(system.n_sites, out)


def connected_elements(system: SpinSystem, configs: BitConfigs, terms: list[LocalTerm] | None = None):
    """For each input (ket, bra) return every (ket', bra') with L[(ket, bra), (ket', bra')] != 0.

    Returns (ket', bra', mel) with shape (batch, n_conn); padded entries have mel = 0 and point
    to the input configuration itself. Diagonal contributions of all terms are summed into column 0.
    """
    n = system.n_sites
    table = liouvillian_table(system, terms=terms)
    ket, bra = np.asarray(configs.ket, np.int64), np.asarray(configs.bra, np.int64)
    shifts = n - 1 - np.arange(n)
    B, C = ket.shape[0], table.n_connected
    kets, bras = np.zeros((B, C), np.int64), np.zeros((B, C), np.int64)
    mel = np.zeros((B, C), table.dtype)
    for lo in range(0, B, CHUNK):
        hi = min(B, lo + CHUNK)
        digits = 2 * ((ket[lo:hi, None] >> shifts) & 1) + ((bra[lo:hi, None] >> shifts) & 1)
        y, mel[lo:hi] = table.connected(digits)
        for i in range(n):  # back to bit integers a site at a time: (b, C) temporaries only
            kets[lo:hi] |= (y[:, :, i] >> 1).astype(np.int64) << shifts[i]
            bras[lo:hi] |= (y[:, :, i] & 1).astype(np.int64) << shifts[i]
    return kets, bras, mel


def dense_liouvillian(system: SpinSystem) -> sp.csr_matrix:
    """The full Liouvillian as a sparse matrix on row-major vec(rho): index ket * 2^N + bra."""
    n = system.n_sites
    D = 2**n
    x = np.arange(D * D, dtype=np.int64)
    kets, bras, mel = connected_elements(system, BitConfigs(x // D, x % D))
    rows = np.broadcast_to(x[:, None], mel.shape)
    keep = mel != 0
    return sp.csr_matrix((mel[keep], (rows[keep], (kets * D + bras)[keep])), shape=(D * D, D * D))
