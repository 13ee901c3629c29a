"""A LocalTable applied in JAX: connected configurations and local values, jittable, fixed shapes.

For configurations x (B, N) of digits 0..3, `connected` returns

    diag (B,)          the sum of every term's diagonal element,
    y    (B, M, N)     the off-diagonal connected configurations, M = sum_g T_g m_g (LocalTable.n_offdiag),
    mel  (B, M)        their elements A[x, y] (0 on padding, where y = x),

and `local_values` the local value of A on a function f given by its logarithm,

    A_loc(x) = (A f)(x) / f(x) = diag + sum_j mel_j exp(log f(y_j) - log f(x)),

which is L_loc = (L rho)(x) / rho(x) of the density-matrix solvers (f = rho, digits 2 ket + bra) and the
POVM RNN's sum_b L_a^b p(b) / p(a) (f = p, digits = outcomes) alike.
"""

from __future__ import annotations

import numpy as np

from .table import LocalTable


class JaxTable:
    """`table` in JAX with values of `dtype` (default: the table's own, narrowed by JAX's x64 setting);
    evaluations of log f run in blocks of `chunk` configurations (None: all at once)."""

    def __init__(self, table: LocalTable, dtype=None, chunk: int | None = None):
        import jax
        import jax.numpy as jnp

        self.table = table
        self.n_sites = table.n_sites
        self.dtype = np.dtype(jax.dtypes.canonicalize_dtype(table.dtype if dtype is None else dtype))
        self.n_offdiag = table.n_offdiag
        self.n_connected = table.n_connected
        self.chunk = chunk
        n = self.n_sites
        self.static, self.tables = [], []
        for g in table.groups:
            # the new digits are placed by a one-hot matmul: a scatter per term is slower on CPU and GPU
            onehot = np.zeros((g.n_terms, g.k, n), np.float32)
            onehot[np.arange(g.n_terms)[:, None], np.arange(g.k)[None, :], g.sites] = 1.0
            self.static.append((g.k, g.width))
            self.tables.append(dict(sites=jnp.asarray(g.sites, jnp.int32), onehot=jnp.asarray(onehot),
                                    diag=jnp.asarray(g.diag.astype(self.dtype)),
                                    cols=jnp.asarray(g.cols, jnp.int32),
                                    vals=jnp.asarray(g.vals.astype(self.dtype))))

    def connected(self, x, tables=None):
        """x (B, N) digits -> (diag (B,), y (B, M, N) int32, mel (B, M)).

        `tables` (default: this operator's) may be a traced argument of a jitted function, so that the
        compiled code does not embed the couplings and serves every coupling of the same sparsity."""
        import jax.numpy as jnp

        tables = self.tables if tables is None else tables
        x = jnp.asarray(x).astype(jnp.int32)
        B, n = x.shape
        diag = jnp.zeros((B,), self.dtype)
        ys, mels = [], []
        for (k, m), g in zip(self.static, tables):
            shifts = 2 * (k - 1 - jnp.arange(k, dtype=jnp.int32))  # 4^(k-1-j) as bit shifts
            local = x[:, g["sites"]]  # (B, T, k)
            r = jnp.sum(local << shifts, axis=-1)  # (B, T)
            diag = diag + jnp.sum(g["diag"][r], axis=-1)
            if m == 0:
                continue
            new = (g["cols"][r][..., None] >> shifts) & 3  # (B, T, m, k)
            delta = (new - local[:, :, None, :]).astype(jnp.float32)
            y = x[:, None, None, :] + jnp.einsum("btmk,tkn->btmn", delta, g["onehot"]).astype(jnp.int32)
            ys.append(y.reshape(B, -1, n))
            mels.append(g["vals"][r].reshape(B, -1))
        if not ys:
            return diag, jnp.zeros((B, 0, n), jnp.int32), jnp.zeros((B, 0), self.dtype)
        return diag, jnp.concatenate(ys, axis=1), jnp.concatenate(mels, axis=1)

    @property
    def changed_sites(self) -> tuple[tuple[int, ...], ...]:
        """For each off-diagonal column of `connected`'s y, the sites where it may differ from x."""
        return tuple(tuple(int(i) for i in s) for g in self.table.groups if g.width
                     for s in g.sites for _ in range(g.width))

    def local_values(self, log_f, x, log_fx=None, tables=None, log_f_connected=None):
        """(A f)(x) / f(x) for log_f: (B', N) digits -> (B',) logarithms (complex or real).

        log_f_connected(x, y) -> (B', M) log f of the connected y (B', M, N), if given, is used instead
        of log_f on them (a network that reuses what y shares with x; see `changed_sites`); it runs on
        blocks of chunk // M rows of x."""
        import jax.numpy as jnp

        B = x.shape[0]
        diag, y, mel = self.connected(x, tables)
        if log_fx is None:
            log_fx = log_f(x)
        if y.shape[1] == 0:
            return diag
        if log_f_connected is not None:
            rows = None if self.chunk is None else max(1, self.chunk // y.shape[1])
            xy = jnp.concatenate([jnp.asarray(x).astype(jnp.int32)[:, None], y], axis=1)
            ly = chunked(lambda b: log_f_connected(b[:, 0], b[:, 1:]), xy, rows)
        else:
            ly = chunked(log_f, y.reshape(-1, self.n_sites), self.chunk).reshape(B, -1)
        nz = mel != 0  # padding and exact zeros: f(y) may vanish there (log f = -inf)
        d = jnp.where(nz, ly - log_fx[:, None], 0.0)
        return diag + jnp.sum(jnp.where(nz, mel * jnp.exp(d), 0.0), axis=1)


def chunked(fn, x, chunk: int | None):
    """fn(x) (M, ...) for x (M, ...), evaluated in blocks of `chunk` rows by lax.map (padded with row 0):
    a block's intermediates stay in cache where one call streams all of them through memory."""
    import jax
    import jax.numpy as jnp

    M = x.shape[0]
    if chunk is None or M <= chunk:
        return fn(x)
    n_blocks = -(-M // chunk)
    pad = n_blocks * chunk - M
    xp = jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad,) + x.shape[1:])]) if pad else x
    out = jax.lax.map(fn, xp.reshape((n_blocks, chunk) + x.shape[1:]))
    return out.reshape((n_blocks * chunk,) + out.shape[2:])[:M]
