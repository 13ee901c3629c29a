"""The Liouvillian's connected elements in the doubled basis, applied in JAX.

The physics is the NumPy list of LocalTerm(sites, K) from liouvillian.local (one 16x16 superoperator per
bond, one 4x4 per site). Here it is compiled once into lookup tables: terms that share K form a group
(sites array T x k); for each row r of K the diagonal K[r, r] and the m off-diagonal nonzero columns
(padded with value 0). For a batch of doubled configurations x (B, 2, N) the compiled function returns

    diag (B,)            sum over all terms of the diagonal elements,
    xc   (B, M, 2, N)    the connected configurations, M = sum_g T_g m_g,
    mel  (B, M)          their matrix elements L[(x), (xc)],

and the local estimator is L_loc(x) = diag + sum_j mel_j rho(xc_j) / rho(x) = (L rho)(x) / rho(x).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..liouvillian import local_terms
from ..model import SpinSystem


@dataclass(frozen=True)
class _Group:
    k: int  # sites per term
    sites: np.ndarray  # (T, k) int32
    diag: np.ndarray  # (4^k,) complex
    cols: np.ndarray  # (4^k, m) int32, off-diagonal columns (padding: the row itself)
    vals: np.ndarray  # (4^k, m) complex (padding: 0)


def _compile_groups(system: SpinSystem, tol: float = 1e-14, adjoint: bool = False) -> list[_Group]:
    groups: dict[tuple, list] = {}
    for term in local_terms(system):
        K = term.K.conj().T if adjoint else term.K
        key = (len(term.sites), K.tobytes())
        groups.setdefault(key, [K, []])[1].append(term.sites)
    out = []
    for (k, _), (K, sites) in groups.items():
        R = K.shape[0]
        off = [[c for c in range(R) if c != r and abs(K[r, c]) > tol] for r in range(R)]
        m = max((len(o) for o in off), default=0)
        cols = np.tile(np.arange(R, dtype=np.int32)[:, None], (1, m))
        vals = np.zeros((R, m), complex)
        for r, o in enumerate(off):
            cols[r, : len(o)] = o
            vals[r, : len(o)] = K[r, o]
        out.append(_Group(k, np.array(sites, np.int32).reshape(-1, k), np.diag(K).copy(), cols, vals))
    return out


class LocalLiouvillian:
    """Connected elements of the Liouvillian of `system` (of its adjoint L^dag if `adjoint`);
    `connected` and `local_values` are jittable."""

    def __init__(self, system: SpinSystem, adjoint: bool = False, dtype=np.complex64):
        import jax.numpy as jnp

        self.system = system
        self.n_sites = system.n_sites
        self.dtype = np.dtype(dtype)  # complex128 for time evolution (needs jax x64)
        self.groups = _compile_groups(system, adjoint=adjoint)
        self.n_conn = int(sum(g.sites.shape[0] * g.cols.shape[1] for g in self.groups))
        n = self.n_sites
        self._static, self.tables = [], []
        for g in self.groups:
            onehot = np.zeros((g.sites.shape[0], g.k, n), np.float32)
            for t, ss in enumerate(g.sites):
                for j, s in enumerate(ss):
                    onehot[t, j, s] = 1.0
            self._static.append((g.k, g.cols.shape[1]))
            self.tables.append(dict(sites=jnp.asarray(g.sites), onehot=jnp.asarray(onehot),
                                    diag=jnp.asarray(g.diag.astype(self.dtype)), cols=jnp.asarray(g.cols),
                                    vals=jnp.asarray(g.vals.astype(self.dtype))))

    def connected(self, x, tables=None):
        """x: (B, 2, N) int8 -> (diag (B,), xc (B, M, 2, N) int8, mel (B, M)).

        `tables` (default: this Liouvillian's) can be passed as a traced argument of a jitted function,
        so that the compiled code does not embed the couplings and is reused (and cached on disk)
        across a sweep of couplings with the same sparsity."""
        import jax.numpy as jnp

        tables = self.tables if tables is None else tables
        B = x.shape[0]
        xi = x.astype(jnp.int32)
        diag = jnp.zeros((B,), self.dtype)
        xcs, mels = [], []
        for (k, m), g in zip(self._static, tables):
            shifts = (k - 1 - jnp.arange(k)).astype(jnp.int32)
            ket = xi[:, 0, :][:, g["sites"]]  # (B, T, k)
            bra = xi[:, 1, :][:, g["sites"]]
            row = (jnp.sum(ket << shifts, -1) << k) | jnp.sum(bra << shifts, -1)  # (B, T)
            diag = diag + jnp.sum(g["diag"][row], axis=-1)
            if m == 0:
                continue
            c = g["cols"][row]  # (B, T, m)
            new_ket = ((c >> k)[..., None] >> shifts) & 1  # (B, T, m, k)
            new_bra = ((c & (2**k - 1))[..., None] >> shifts) & 1
            dk = (new_ket - ket[:, :, None, :]).astype(jnp.float32)
            db = (new_bra - bra[:, :, None, :]).astype(jnp.float32)
            oh = g["onehot"]
            xk = xi[:, None, None, 0, :] + jnp.einsum("btmk,tkn->btmn", dk, oh).astype(jnp.int32)
            xb = xi[:, None, None, 1, :] + jnp.einsum("btmk,tkn->btmn", db, oh).astype(jnp.int32)
            xc = jnp.stack([xk, xb], axis=-2).reshape(B, -1, 2, self.n_sites)
            xcs.append(xc)
            mels.append(g["vals"][row].reshape(B, -1))
        if not xcs:
            return diag, jnp.zeros((B, 0, 2, self.n_sites), jnp.int8), jnp.zeros((B, 0), self.dtype)
        return diag, jnp.concatenate(xcs, 1).astype(jnp.int8), jnp.concatenate(mels, 1)

    def local_values(self, log_rho, x, log_rho_x=None, tables=None):
        """L_loc(x) = (L rho)(x) / rho(x) for log_rho: (B', 2, N) -> (B',) complex log amplitudes."""
        import jax.numpy as jnp

        B = x.shape[0]
        diag, xc, mel = self.connected(x, tables)
        if log_rho_x is None:
            log_rho_x = log_rho(x)
        if xc.shape[1] == 0:
            return diag
        lc = log_rho(xc.reshape(-1, 2, self.n_sites)).reshape(B, -1)
        nz = mel != 0
        d = jnp.where(nz, lc - log_rho_x[:, None], 0.0)
        return diag + jnp.sum(jnp.where(nz, mel * jnp.exp(d), 0.0), axis=1)


def ldagl_local_values(lind: LocalLiouvillian, ladj: LocalLiouvillian, log_rho, x, log_rho_x=None,
                       tables=None, tables_adj=None):
    """(L^dag L rho)(x) / rho(x) = sum_y L^dag(x, y) sum_x' L(y, x') rho(x') / rho(x).

    The intermediate y runs over every configuration connected to x, whether or not rho(y) is
    negligible, so elements where L rho is nonzero but rho vanishes are seen (the |L_loc|^2 estimator is
    blind to them). Costs (1 + M)^2 network evaluations per sample."""
    import jax.numpy as jnp

    B, n = x.shape[0], lind.n_sites
    if log_rho_x is None:
        log_rho_x = log_rho(x)
    dA, yc, mA = ladj.connected(x, tables_adj)  # y != x, and the diagonal dA (y = x)
    ys = jnp.concatenate([x[:, None], yc], axis=1)  # (B, 1 + M1, 2, N)
    wA = jnp.concatenate([dA[:, None], mA], axis=1)  # L^dag(x, y)
    M1 = ys.shape[1]
    dL, xc, mL = lind.connected(ys.reshape(-1, 2, n), tables)  # for every y: its x' and L(y, x')
    lr_y = log_rho(ys.reshape(-1, 2, n)).reshape(B, M1)
    ref = log_rho_x[:, None]
    # (L rho)(y) / rho(x) = L(y, y) rho(y)/rho(x) + sum_x' L(y, x') rho(x')/rho(x)
    Ly = dL.reshape(B, M1) * jnp.exp(lr_y - ref)
    if xc.shape[1]:
        lr_c = log_rho(xc.reshape(-1, 2, n)).reshape(B, M1, -1)
        nz = mL.reshape(B, M1, -1) != 0
        d = jnp.where(nz, lr_c - ref[:, :, None], 0.0)
        Ly = Ly + jnp.sum(jnp.where(nz, mL.reshape(B, M1, -1) * jnp.exp(d), 0.0), axis=-1)
    nzA = wA != 0
    return jnp.sum(jnp.where(nzA, wA * Ly, 0.0), axis=1)
