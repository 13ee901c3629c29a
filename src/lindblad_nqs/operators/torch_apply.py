"""A LocalTable applied in PyTorch, on the device of the strings: the flat, keyed connected elements
that the luo2022 costs deduplicate.

A string of N digits 0..3 is packed into W = ceil(N / SITES_PER_WORD) int64 key words (site i in word
i // SITES_PER_WORD at bits 2 (i % SITES_PER_WORD)), so that distinct strings are found by sorting keys
and a connected string's key is its parent's key plus the changed digits: no (B, M, N) array is built.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch

from .table import LocalTable

SITES_PER_WORD = 31  # base-4 digits of a string packed into one int64 key word

_CACHE: "weakref.WeakKeyDictionary[LocalTable, dict]" = weakref.WeakKeyDictionary()


def torch_table(table: LocalTable, device="cpu") -> "TorchTable":
    """The TorchTable of `table` on `device`, built once per table and device."""
    per = _CACHE.setdefault(table, {})
    key = str(torch.device(device))
    if key not in per:
        per[key] = TorchTable(table, device)
    return per[key]


class TorchTable:
    def __init__(self, table: LocalTable, device="cpu"):
        self.table = table
        self.n = table.n_sites
        self.n_words = -(-self.n // SITES_PER_WORD)
        self.device = torch.device(device)
        as_t = lambda x, dtype=None: torch.as_tensor(x, dtype=dtype, device=self.device)  # noqa: E731
        self.groups = []
        for g in table.groups:
            # the change of key of every (term, row, column): a connected string's key is its parent's
            # plus one entry of this table, since the row fixes the old digits and the column the new
            R = 4**g.k
            old = (np.arange(R)[:, None] // g.powers) % 4  # (R, k)
            change = (g.col_digits - old[:, None, :])[None] << (2 * (g.sites % SITES_PER_WORD))[:, None, None, :]
            word = (g.sites // SITES_PER_WORD)[:, None, None, :]  # (T, 1, 1, k)
            dkey = np.stack([np.sum(np.where(word == w, change, 0), axis=-1) for w in range(self.n_words)], -1)
            self.groups.append(dict(sites=as_t(g.sites), powers=as_t(g.powers), diag=as_t(g.diag), vals=as_t(g.vals),
                                    dkey=as_t(dkey.reshape(-1, self.n_words)), rows_per_term=R, width=g.width))
        self._shifts = as_t(range(0, 2 * SITES_PER_WORD, 2), torch.long)
        self.dtype = torch.from_numpy(np.zeros(0, table.dtype)).dtype

    def keys(self, a: torch.Tensor) -> torch.Tensor:
        """(B, W) int64 keys of strings a (B, N)."""
        a = a.long()
        out = a.new_zeros((a.shape[0], self.n_words))
        for w in range(self.n_words):
            lo, hi = w * SITES_PER_WORD, min(self.n, (w + 1) * SITES_PER_WORD)
            out[:, w] = (a[:, lo:hi] << self._shifts[: hi - lo]).sum(dim=1)
        return out

    def decode(self, keys: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N) strings of (B, W) keys, written into ``out`` when given."""
        out = keys.new_empty((keys.shape[0], self.n)) if out is None else out
        for w in range(keys.shape[1]):  # a word at a time, written in place: the decoding is memory-bound
            lo, hi = w * SITES_PER_WORD, min(self.n, (w + 1) * SITES_PER_WORD)
            o = out[:, lo:hi]
            torch.bitwise_right_shift(keys[:, w:w + 1], self._shifts[: hi - lo], out=o)
            o.bitwise_and_(3)
        return out

    def first_difference(self, keys1: torch.Tensor, keys2: torch.Tensor) -> torch.Tensor:
        """The first site at which the strings of two (B, W) key arrays differ (N where they are equal),
        from the lowest differing bit of each word: no decoding."""
        x = keys1 ^ keys2
        first = x.new_full((x.shape[0],), self.n)
        for w in range(x.shape[1] - 1, -1, -1):  # a lower word overrides a higher one
            nz = x[:, w] != 0
            low = x[nz, w] & -x[nz, w]  # powers of two below 2^62: log2 in float64 is exact
            first[nz] = w * SITES_PER_WORD + low.double().log2().long() // 2
        return first

    def connected_flat(self, a: torch.Tensor):
        """The nonzero elements A[a, b] as flat lists (row, key of b, mel): row indexes a, keys are (M, W).
        Each a comes first with its whole diagonal (where nonzero), then its off-diagonal b."""
        a = a.long()
        B = a.shape[0]
        base = self.keys(a)
        diag = torch.zeros(B, dtype=self.dtype, device=a.device)
        rows, keys, mels = [], [], []
        for g in self.groups:
            r = (a[:, g["sites"]] * g["powers"]).sum(dim=-1)  # (B, T) local row of each term
            diag += g["diag"][r].sum(dim=1)
            v = g["vals"][r]  # (B, T, m)
            row, t, j = v.nonzero(as_tuple=True)
            rows.append(row)
            keys.append(base[row] + g["dkey"][(t * g["rows_per_term"] + r[row, t]) * g["width"] + j])
            mels.append(v[row, t, j])
        d = torch.nonzero(diag).ravel()
        return (torch.cat([d] + rows), torch.cat([base[d]] + keys), torch.cat([diag[d]] + mels))
