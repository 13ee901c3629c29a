"""The purified RBM density operator (Torlai & Melko, PRL 120, 240503; NetKet's NDM), Flax.

With spins s, s' = +-1 of the ket and the bra, real parameters, hidden density alpha and ancilla density
`ancilla` (called beta in the literature, a name this package keeps for the sampling exponent):

    log rho(s, s') = Gamma_l(s, s') + i Gamma_m(s, s') + Pi(s, s')
    Gamma_l = 1/2 [sum_h logcosh(W s + b) + sum_h logcosh(W s' + b) + a.(s + s')]
    Gamma_m = 1/2 [sum_h logcosh(V s + c) - sum_h logcosh(V s' + c) + d.(s - s')]
    Pi      = sum_k logcosh(U (s + s')/2 + i Q (s - s')/2 + e)

rho = sum_anc psi(s, anc) psi*(s', anc): Hermitian and positive semidefinite by construction.
Parameters: 2 (alpha N^2 + alpha N + N) + 2 ancilla N^2 + ancilla N. For N = 16, alpha = 1, ancilla = 4 that is
2688; the 2752 quoted for ref. 14 counts a second ancilla bias (of the phase RBM) that cancels in rho.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import linen as nn


def logcosh(z):
    """log cosh z for complex z, stable for large |Re z| (the branch of the imaginary part is irrelevant)."""
    z = jnp.where(z.real < 0, -z, z)
    return z + jnp.log1p(jnp.exp(-2 * z)) - jnp.log(2.0)


class RBMDensityOperator(nn.Module):
    n_sites: int
    alpha: float = 1.0
    ancilla: float = 1.0
    init_std: float = 0.01

    @nn.compact
    def __call__(self, x):
        n = self.n_sites
        nh, na = max(1, int(round(self.alpha * n))), max(1, int(round(self.ancilla * n)))
        init = nn.initializers.normal(self.init_std)
        s = 1 - 2 * x[:, 0, :].astype(jnp.float32)
        sp = 1 - 2 * x[:, 1, :].astype(jnp.float32)
        W = self.param("W", init, (n, nh))
        b = self.param("b", init, (nh,))
        a = self.param("a", init, (n,))
        V = self.param("V", init, (n, nh))
        c = self.param("c", init, (nh,))
        d = self.param("d", init, (n,))
        U = self.param("U", init, (n, na))
        Q = self.param("Q", init, (n, na))
        e = self.param("e", init, (na,))
        def lc(t):
            return jnp.sum(_logcosh_real(t), -1)

        gl = 0.5 * (lc(s @ W + b) + lc(sp @ W + b) + (s + sp) @ a)
        gm = 0.5 * (lc(s @ V + c) - lc(sp @ V + c) + (s - sp) @ d)
        pi = jnp.sum(logcosh(((s + sp) / 2) @ U + 1j * (((s - sp) / 2) @ Q) + e), -1)
        return gl + 1j * gm + pi


def _logcosh_real(t):
    t = jnp.abs(t)
    return t + jnp.log1p(jnp.exp(-2 * t)) - jnp.log(2.0)
