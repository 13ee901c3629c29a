"""Connected elements of the doubled-basis Liouvillian for configurations stored as bit integers.

A spin configuration of N sites is an integer in [0, 2^N): site i is bit N-1-i (site 0 most
significant, QuTiP's tensor order) and bit 0 means |up>. A doubled configuration is (ket, bra).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..model import SpinSystem
from .local import LocalTerm, local_terms


@dataclass(frozen=True)
class BitConfigs:
    ket: np.ndarray
    bra: np.ndarray


def _site_bits(config: np.ndarray, sites, n: int) -> np.ndarray:
    idx = np.zeros_like(config)
    for s in sites:
        idx = (idx << 1) | ((config >> (n - 1 - s)) & 1)
    return idx


def _patterns(sites, n: int) -> tuple[int, np.ndarray]:
    """The bit mask of `sites` and, for each local index, the bits it sets inside that mask."""
    k = len(sites)
    mask = sum(1 << (n - 1 - s) for s in sites)
    pats = np.zeros(2**k, dtype=np.int64)
    for loc in range(2**k):
        for m, s in enumerate(sites):
            if (loc >> (k - 1 - m)) & 1:
                pats[loc] |= 1 << (n - 1 - s)
    return mask, pats


def connected_elements(system: SpinSystem, configs: BitConfigs, terms: list[LocalTerm] | None = None):
    """For each input (ket, bra) return every (ket', bra') with L[(ket, bra), (ket', bra')] != 0.

    Returns (ket', bra', mel) with shape (batch, n_conn); padded entries have mel = 0 and point
    to the input configuration itself. Diagonal contributions of all terms are summed into column 0.
    """
    n = system.n_sites
    terms = local_terms(system) if terms is None else terms
    ket, bra = np.asarray(configs.ket, np.int64), np.asarray(configs.bra, np.int64)
    B = ket.shape[0]
    diag = np.zeros(B, complex)
    kets, bras, mels = [ket[:, None]], [bra[:, None]], []
    for term in terms:
        k = len(term.sites)
        mask, pats = _patterns(term.sites, n)
        row = _site_bits(ket, term.sites, n) * 2**k + _site_bits(bra, term.sites, n)
        cols = np.flatnonzero(np.any(term.K != 0, axis=0))
        m = term.K[row[:, None], cols[None, :]]
        new_ket = (ket[:, None] & ~mask) | pats[cols // 2**k][None, :]
        new_bra = (bra[:, None] & ~mask) | pats[cols % 2**k][None, :]
        same = (new_ket == ket[:, None]) & (new_bra == bra[:, None])
        diag += np.sum(np.where(same, m, 0), axis=1)
        m = np.where(same, 0, m)
        kets.append(new_ket)
        bras.append(new_bra)
        mels.append(m)
    mel = np.concatenate([diag[:, None]] + mels, axis=1)
    return np.concatenate(kets, axis=1), np.concatenate(bras, axis=1), mel


def dense_liouvillian(system: SpinSystem) -> sp.csr_matrix:
    """The full Liouvillian as a sparse matrix on row-major vec(rho): index ket * 2^N + bra."""
    n = system.n_sites
    D = 2**n
    x = np.arange(D * D, dtype=np.int64)
    kets, bras, mel = connected_elements(system, BitConfigs(x // D, x % D))
    rows = np.broadcast_to(x[:, None], mel.shape)
    keep = mel != 0
    return sp.csr_matrix((mel[keep], (rows[keep], (kets * D + bras)[keep])), shape=(D * D, D * D))
