"""The Liouvillian's connected elements in the doubled basis, applied in JAX.

The Liouvillian's table (liouvillian.liouvillian_table: the local superoperators on the digits
2 * ket + bra) is applied by operators.jax_apply.JaxTable; this class only translates between the
networks' doubled configurations x (B, 2, N) and those digits. For a batch x, `connected` returns

    diag (B,)            sum over all terms of the diagonal elements,
    xc   (B, M, 2, N)    the connected configurations, M = sum_g T_g m_g,
    mel  (B, M)          their matrix elements L[(x), (xc)],

and the local estimator is L_loc(x) = diag + sum_j mel_j rho(xc_j) / rho(x) = (L rho)(x) / rho(x).
"""

from __future__ import annotations

import numpy as np

from ..liouvillian import liouvillian_table
from ..model import SpinSystem
from ..operators.jax_apply import JaxTable


def to_digits(x):
    """(..., 2, N) doubled configurations -> (..., N) digits 2 * ket + bra."""
    return 2 * x[..., 0, :].astype("int32") + x[..., 1, :].astype("int32")


def from_digits(d):
    """(..., N) digits -> (..., 2, N) int8 doubled configurations."""
    import jax.numpy as jnp

    return jnp.stack([d >> 1, d & 1], axis=-2).astype(jnp.int8)


class LocalLiouvillian:
    """Connected elements of the Liouvillian of `system` (of its adjoint L^dag if `adjoint`);
    `connected` and `local_values` are jittable."""

    def __init__(self, system: SpinSystem, adjoint: bool = False, dtype=np.complex64):
        self.system = system
        self.n_sites = system.n_sites
        self.dtype = np.dtype(dtype)  # complex128 for time evolution (needs jax x64)
        self.op = JaxTable(liouvillian_table(system, adjoint=adjoint), self.dtype)
        self.tables = self.op.tables
        self.n_conn = self.op.n_offdiag

    def connected(self, x, tables=None):
        """x: (B, 2, N) int8 -> (diag (B,), xc (B, M, 2, N) int8, mel (B, M)).

        `tables` (default: this Liouvillian's) can be passed as a traced argument of a jitted function,
        so that the compiled code does not embed the couplings and is reused (and cached on disk)
        across a sweep of couplings with the same sparsity."""
        diag, y, mel = self.op.connected(to_digits(x), tables)
        return diag, from_digits(y), mel

    def local_values(self, log_rho, x, log_rho_x=None, tables=None, log_rho_connected=None):
        """L_loc(x) = (L rho)(x) / rho(x) for log_rho: (B', 2, N) -> (B',) complex log amplitudes.
        log_rho_connected(d, y) -> (B', M): log rho of the connected configurations in digits, where the
        network has a shortcut (operators.jax_apply.JaxTable.local_values' log_f_connected)."""
        return self.op.local_values(lambda d: log_rho(from_digits(d)), to_digits(x), log_rho_x, tables,
                                    log_f_connected=log_rho_connected)


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
