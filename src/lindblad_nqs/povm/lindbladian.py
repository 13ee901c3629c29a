"""The Lindbladian in POVM form, dp(a)/dt = sum_b L_a^b p(b), built from one- and two-site tensors.

For a local superoperator K on k sites (the model's own, liouvillian.local.superoperator, rate
convention rate (G rho G^dag - 1/2 {G^dag G, rho})), the local POVM generator is

    L_a^b = Tr(M_a K(N^b)) = -i Tr(H [N^b, M_a]) + sum rate Tr(G N^b G^dag M_a - 1/2 G^dag G {N^b, M_a}),

a 4^k x 4^k real matrix, local index sum_m a_m 4^(k-1-m) (first site most significant). Because
Tr(M_a N^b) = delta_ab on untouched sites, the many-site L_a^b is the sum over terms of the local
matrix on the term's sites times deltas elsewhere: a string a connects to at most 1 + 15 * n_bonds
strings b (single-site terms are folded into a bond that contains the site), never 4^N.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..liouvillian.local import superoperator
from ..model import SpinSystem
from .frames import POVM, get_povm

SITES_PER_WORD = 31  # base-4 digits of a string packed into one int64 key word


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
    cols: np.ndarray = field(repr=False, default=None)  # local b with a nonzero column


class POVMLindbladian:
    """The POVM Lindbladian of a SpinSystem as a list of local terms."""

    def __init__(self, system: SpinSystem, povm: POVM | str = "tetrahedral", fold_sites: bool = True):
        self.system = system
        self.povm = get_povm(povm) if isinstance(povm, str) else povm
        self.n = system.n_sites
        self.terms = self._build(fold_sites)
        self._arrays = {"numpy": [(t.sites, t.L, t.cols, _local_digits(t.cols, len(t.sites))) for t in self.terms]}

    def _term_arrays(self, a):
        """(sites, L, cols, digits of cols) of every term, in the array library (and on the device) of a."""
        if not _is_torch(a):
            return self._arrays["numpy"]
        key = str(a.device)
        if key not in self._arrays:
            import torch

            self._arrays[key] = [(s, *(torch.as_tensor(x, device=a.device) for x in arrays))
                                 for s, *arrays in self._arrays["numpy"]]
        return self._arrays[key]

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
        terms = [POVMTerm(tuple(b), L) for b, L in bond_L.items() if np.any(L)] + site_terms
        return [POVMTerm(t.sites, t.L, np.flatnonzero(np.any(t.L != 0, axis=0))) for t in terms]

    @property
    def n_words(self) -> int:
        return -(-self.n // SITES_PER_WORD)

    @property
    def max_connections(self) -> int:
        return 1 + sum(len(t.cols) for t in self.terms)

    # --- padded connected elements (like liouvillian.connected) -----------------------------------
    def connected(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For strings a (B, N) with entries 0..3, the strings b with L_a^b != 0 and the coefficients.

        Returns (b, mel) of shapes (B, C, N) (int8) and (B, C); column 0 is a itself with the sum of
        all diagonal contributions; padded entries have mel = 0 and b = a. Then
        sum_b L_a^b p(b) = sum_c mel[:, c] p(b[:, c])."""
        a = np.asarray(a, np.int64)
        B = a.shape[0]
        diag = np.zeros(B)
        bs, mels = [a[:, None, :].astype(np.int8)], []
        for t in self.terms:
            k = len(t.sites)
            r = _local_index(a, t.sites)
            m = t.L[r[:, None], t.cols[None, :]]
            same = r[:, None] == t.cols[None, :]
            diag += np.sum(np.where(same, m, 0.0), axis=1)
            m = np.where(same, 0.0, m)
            b = np.repeat(a[:, None, :], len(t.cols), axis=1).astype(np.int8)
            digits = _local_digits(t.cols, k)  # (ncols, k)
            for m_i, s in enumerate(t.sites):
                b[:, :, s] = digits[None, :, m_i]
            b[m == 0.0] = a.astype(np.int8)[np.nonzero(m == 0.0)[0]]
            bs.append(b)
            mels.append(m)
        return np.concatenate(bs, axis=1), np.concatenate([diag[:, None]] + mels, axis=1)

    # --- flat, keyed connected elements (what the solvers use) ------------------------------------
    # NumPy arrays or torch tensors (on any device) alike: prepare() runs them where the network runs.
    def keys(self, a):
        """(B, W) int64 keys of strings: base-4 digits packed SITES_PER_WORD per word."""
        if _is_torch(a):
            a = a.long()
            out = a.new_zeros((a.shape[0], self.n_words))
        else:
            a = np.asarray(a, np.int64)
            out = np.zeros((a.shape[0], self.n_words), np.int64)
        for i in range(self.n):
            out[:, i // SITES_PER_WORD] += a[:, i] << (2 * (i % SITES_PER_WORD))
        return out

    def decode(self, keys, out=None):
        """(B, N) strings of (B, W) keys, written into ``out`` when given."""
        in_torch = _is_torch(keys)
        if in_torch:
            from torch import bitwise_right_shift as torch_shift

            out = keys.new_empty((keys.shape[0], self.n)) if out is None else out
            shifts = keys.new_tensor(range(0, 2 * SITES_PER_WORD, 2))
        else:
            keys = np.asarray(keys, np.int64)
            out = np.empty((keys.shape[0], self.n), np.int64) if out is None else out
            shifts = np.arange(0, 2 * SITES_PER_WORD, 2)
        for w in range(keys.shape[1]):  # a word at a time, written in place: the decoding is memory-bound
            lo, hi = w * SITES_PER_WORD, min(self.n, (w + 1) * SITES_PER_WORD)
            o = out[:, lo:hi]
            if in_torch:
                torch_shift(keys[:, w:w + 1], shifts[: hi - lo], out=o)
                o.bitwise_and_(3)
            else:
                o[...] = (keys[:, w:w + 1] >> shifts[: hi - lo]) & 3
        return out

    def first_difference(self, keys1, keys2):
        """The first site at which the strings of two (B, W) key arrays differ (N where they are equal),
        from the lowest differing bit of each word: no decoding."""
        x = keys1 ^ keys2
        if _is_torch(x):
            first = x.new_full((x.shape[0],), self.n)
            log2 = lambda v: v.double().log2().long()  # noqa: E731
        else:
            x = np.asarray(x, np.int64)
            first = np.full(x.shape[0], self.n, np.int64)
            log2 = lambda v: np.log2(v).astype(np.int64)  # noqa: E731
        for w in range(x.shape[1] - 1, -1, -1):  # a lower word overrides a higher one
            nz = x[:, w] != 0
            low = x[nz, w] & -x[nz, w]  # powers of two below 2^62: log2 in float64 is exact
            first[nz] = w * SITES_PER_WORD + log2(low) // 2
        return first

    def connected_flat(self, a):
        """Nonzero L_a^b as flat lists (row, key of b, mel): row indexes a, keys are (M, W).
        Diagonal contributions of different terms appear as separate entries with the key of a."""
        torch_in = _is_torch(a)
        a = a.long() if torch_in else np.asarray(a, np.int64)
        base = self.keys(a)
        rows, keys, mels = [], [], []
        for sites, L, cols, col_digits in self._term_arrays(a):
            r = _local_index(a, sites)
            m = L[r[:, None], cols[None, :]]  # (B, ncols)
            row, col = m.nonzero(as_tuple=True) if torch_in else m.nonzero()
            key = base[row]  # advanced indexing: a copy in both libraries
            digits = col_digits[col]  # (M, k)
            for m_i, s in enumerate(sites):
                w, sh = s // SITES_PER_WORD, 2 * (s % SITES_PER_WORD)
                key[:, w] += (digits[:, m_i] - a[row, s]) << sh
            rows.append(row)
            keys.append(key)
            mels.append(m[row, col])
        if torch_in:
            import torch

            if not rows:
                return a.new_zeros(0), a.new_zeros((0, self.n_words)), a.new_zeros(0, dtype=torch.float64)
            return torch.cat(rows), torch.cat(keys), torch.cat(mels)
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, self.n_words), np.int64), np.zeros(0)
        return np.concatenate(rows), np.concatenate(keys), np.concatenate(mels)

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


def _is_torch(x) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def _local_index(a, sites):
    r = a[:, sites[0]]
    for s in sites[1:]:
        r = r * 4 + a[:, s]
    return r


def _local_digits(cols: np.ndarray, k: int) -> np.ndarray:
    return np.stack([(cols // 4 ** (k - 1 - m)) % 4 for m in range(k)], axis=1).astype(np.int64)


def all_strings(n: int) -> np.ndarray:
    """All 4^n outcome strings in the order of string_index (first site most significant)."""
    idx = np.arange(4**n)
    return np.stack([(idx // 4 ** (n - 1 - i)) % 4 for i in range(n)], axis=1).astype(np.int64)


def string_index(a: np.ndarray) -> np.ndarray:
    n = a.shape[1]
    return np.asarray(a, np.int64) @ (4 ** np.arange(n - 1, -1, -1, dtype=np.int64))
