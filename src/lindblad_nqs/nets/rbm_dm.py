"""The RBM density matrix of Hartmann & Carleo, PRL 122, 250502 (2019), Eq. 2, in Flax.

With spins l_j, r_j = +-1 of the row and column index (bit 0 = up = +1), complex visible biases a,
M hidden units for rows (weights W, biases b) whose column partners use the complex conjugates W*, b*,
and M~ mixing units (weights U, biases c) traced out:

    rho(l, r) = exp(sum_j a_j l_j + a_j* r_j) prod_k cosh(b_k + W_k.l) cosh(b_k* + W_k*.r)
                                               prod_p cosh(c_p + c_p* + U_p.l + U_p*.r)

Each factor is f(l) f(r)* or a sum over h = +-1 of such products, so rho is Hermitian and positive
semidefinite for any parameters. (N + 1)(M + M~) + N complex parameters, stored as real and imaginary
parts (2 real parameters each; Im c drops out of rho and is kept only to match the paper's count).

Initialisation: the product state psi(s) ~ exp(alpha s) on every site (rho = psi psi*), exact for
x+- and y+- (alpha = 0, i pi/2, -i pi/4, i pi/4) and for z+- up to exp(-2 z_bias) in amplitude
(alpha = +-z_bias), with W = U = 0 plus `init_noise`; the hidden biases are drawn with std `bias_std`:
they leave the state unchanged but make the derivatives along W and U nonzero (at b = 0 they vanish).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from .rbm_ndo import logcosh


def product_alpha(label: str, z_bias: float = 6.0) -> complex:
    """alpha with psi(+1) / psi(-1) = exp(2 alpha) for the single-site state `label`."""
    table = {"x+": 0.0, "x-": 1j * np.pi / 2, "y+": -1j * np.pi / 4, "y-": 1j * np.pi / 4,
             "z+": z_bias, "z-": -z_bias}
    if label not in table:
        raise ValueError(f"unknown product state {label!r}; allowed: {', '.join(table)}")
    return complex(table[label])


def n_complex_parameters(n: int, m: int, m_mix: int) -> int:
    return (n + 1) * (m + m_mix) + n


class RBMDensityMatrix(nn.Module):
    n_sites: int
    n_hidden: int  # M
    n_mixing: int  # M~
    initial: str = "x+"
    z_bias: float = 6.0
    init_noise: float = 1e-3
    bias_std: float = 0.5
    dtype: object = jnp.float32

    def _complex(self, name, shape, init_re, init_im):
        p = self.param(name, lambda k, s: jnp.stack([init_re(k, s[:-1]), init_im(k, s[:-1])], -1), (*shape, 2))
        return p[..., 0] + 1j * p[..., 1]

    @nn.compact
    def __call__(self, x):
        n, m, mm = self.n_sites, self.n_hidden, self.n_mixing
        alpha = product_alpha(self.initial, self.z_bias)
        dt = self.dtype

        def const(v):
            return lambda k, s: jnp.full(s, v, dt)

        def normal(std):
            return lambda k, s: std * jax.random.normal(k, s, dt)

        a = self._complex("a", (n,), const(alpha.real), const(alpha.imag))
        b = self._complex("b", (m,), normal(self.bias_std), normal(self.bias_std))
        W = self._complex("W", (m, n), normal(self.init_noise), normal(self.init_noise))
        c = self._complex("c", (mm,), normal(self.bias_std), normal(self.bias_std))
        U = self._complex("U", (mm, n), normal(self.init_noise), normal(self.init_noise))
        l = (1 - 2 * x[:, 0, :]).astype(dt)
        r = (1 - 2 * x[:, 1, :]).astype(dt)
        out = l @ a + r @ jnp.conj(a)
        out = out + jnp.sum(logcosh(b + l @ W.T) + logcosh(jnp.conj(b) + r @ jnp.conj(W).T), -1)
        out = out + jnp.sum(logcosh(2 * c.real + l @ U.T + r @ jnp.conj(U).T), -1)
        return out

