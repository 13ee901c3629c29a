"""Sums of local operators on 4-state digits, as lookup tables built once in NumPy.

A configuration of N sites is N digits in 0..3: a POVM outcome string, or, in the doubled basis of a
density matrix, the digit 2 * ket + bra of each site. An operator A = sum_t A_t has terms A_t on sites
S_t (k = |S_t| sites), each a 4^k x 4^k matrix with local index sum_m d_m 4^(k-1-m) (the first site of
S_t most significant), so that

    A[x, y] = sum_t A_t[x_S, y_S] prod_{s not in S_t} delta(x_s, y_s).

Terms with the same matrix form a group: their sites (T, k), and for each local row r the diagonal
diag[r] and the m off-diagonal nonzero columns cols[r], with values vals[r] (rows with fewer are padded
with the row itself and the value 0). A configuration x is connected to itself, with the sum of every
term's diagonal, and to one configuration per (term, column): at most 1 + sum_g T_g m_g of them, never
4^N. The framework appliers (operators.jax_apply, operators.torch_apply) apply these arrays; `connected`
here is the NumPy one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np


@dataclass(frozen=True, eq=False)
class TermGroup:
    sites: np.ndarray  # (T, k) int64: the sites of each term of the group
    diag: np.ndarray  # (4^k,) the matrix's diagonal
    cols: np.ndarray  # (4^k, m) int64 off-diagonal nonzero columns of each row (padding: the row)
    vals: np.ndarray  # (4^k, m) their values (padding: 0)

    @property
    def k(self) -> int:
        return self.sites.shape[1]

    @property
    def n_terms(self) -> int:
        return self.sites.shape[0]

    @property
    def width(self) -> int:
        return self.cols.shape[1]

    @property
    def powers(self) -> np.ndarray:
        """(k,) place values 4^(k-1-m) of the local index."""
        return 4 ** np.arange(self.k - 1, -1, -1, dtype=np.int64)

    @property
    def col_digits(self) -> np.ndarray:
        """(4^k, m, k) the digits of each column, first site first."""
        return (self.cols[..., None] // self.powers) % 4


@dataclass(frozen=True, eq=False)
class LocalTable:
    n_sites: int
    groups: tuple[TermGroup, ...]

    @property
    def dtype(self) -> np.dtype:
        return np.result_type(*(g.vals for g in self.groups)) if self.groups else np.dtype(float)

    @property
    def n_offdiag(self) -> int:
        """Off-diagonal connections per configuration (padded: some may have value 0)."""
        return int(sum(g.n_terms * g.width for g in self.groups))

    @property
    def n_connected(self) -> int:
        return 1 + self.n_offdiag

    def connected(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For configurations x (B, N) of digits 0..3, the connected configurations y (B, C, N) int8 and
        A[x, y] (B, C), C = n_connected. Column 0 is x itself with the whole diagonal; padded entries
        have the value 0 and y = x. Then (A f)(x) = sum_c mel[:, c] f(y[:, c])."""
        x = np.asarray(x, np.int64)
        B, n = x.shape
        diag = np.zeros(B, self.dtype)
        ys, mels = [x[:, None, :].astype(np.int8)], []
        for g in self.groups:
            local = x[:, g.sites]  # (B, T, k)
            r = local @ g.powers  # (B, T)
            diag += g.diag[r].sum(axis=1)
            if g.width == 0:
                continue
            y = np.array(np.broadcast_to(x[:, None, None, :], (B, g.n_terms, g.width, n)), np.int8)
            idx = np.broadcast_to(g.sites[None, :, None, :], (B, g.n_terms, g.width, g.k))
            np.put_along_axis(y, idx, g.col_digits[r].astype(np.int8), axis=-1)
            ys.append(y.reshape(B, -1, n))
            mels.append(g.vals[r].reshape(B, -1))
        return np.concatenate(ys, axis=1), np.concatenate([diag[:, None]] + mels, axis=1)


def build_table(n_sites: int, terms: Iterable[tuple[tuple[int, ...], np.ndarray]], tol: float = 1e-14) -> LocalTable:
    """The table of sum_t A_t for terms (sites, A_t) with A_t in the digit order of this module; matrix
    elements with |A| <= tol are treated as zero."""
    groups: dict[tuple, list] = {}
    for sites, A in terms:
        A = np.asarray(A)
        if A.shape != (4 ** len(sites),) * 2:
            raise ValueError(f"a term on {len(sites)} sites needs a {4 ** len(sites)}-square matrix, got {A.shape}")
        groups.setdefault((len(sites), A.dtype.str, A.tobytes()), [A, []])[1].append(tuple(sites))
    out = []
    for (k, _, _), (A, sites) in groups.items():
        R = A.shape[0]
        off = [[c for c in range(R) if c != r and abs(A[r, c]) > tol] for r in range(R)]
        m = max((len(o) for o in off), default=0)
        cols = np.tile(np.arange(R, dtype=np.int64)[:, None], (1, m))
        vals = np.zeros((R, m), A.dtype)
        for r, o in enumerate(off):
            cols[r, : len(o)] = o
            vals[r, : len(o)] = A[r, o]
        out.append(TermGroup(np.array(sites, np.int64).reshape(-1, k), np.diag(A).copy(), cols, vals))
    return LocalTable(n_sites, tuple(out))
