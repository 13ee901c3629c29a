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



# --- closed forms for the TDVP: log-derivatives, and connected configurations from the changed sites ---
#
# The three hidden sets stacked as H = 2M + M~ units with activations theta_h = bias_h + Vl_h.l + Vr_h.r:
# rows (b, W, 0), columns (b*, 0, W*), mixing (2 Re c, U, U*). rho(l, r) = exp(a.l + a*.r) prod_h cosh(theta_h).


def unpack(variables):
    """(a, b, W, c, U) as complex arrays from the module's variables (or their params)."""
    p = variables.get("params", variables)
    return tuple(p[k][..., 0] + 1j * p[k][..., 1] for k in ("a", "b", "W", "c", "U"))


def _spins(x):
    """(B, 2, N) doubled configurations -> ket and bra spins l, r = +-1 (bit 0 = up = +1)."""
    return 1 - 2 * x[:, 0, :].astype(jnp.int32), 1 - 2 * x[:, 1, :].astype(jnp.int32)


def _hidden(variables, l, r):
    """The activations of the row, column and mixing units, each (B, units)."""
    a, b, W, c, U = unpack(variables)
    l, r = l.astype(W.dtype), r.astype(W.dtype)
    return b + l @ W.T, jnp.conj(b) + r @ jnp.conj(W).T, 2 * c.real + l @ U.T + r @ jnp.conj(U).T


def _log_abs_cosh(z):
    """log |cosh z| in real arithmetic: |cosh(x + iy)|^2 = (cosh 2x + cos 2y) / 2, stable for large |x|."""
    x, y = jnp.abs(z.real), z.imag
    e = jnp.exp(-2 * x)
    return x - jnp.log(2.0) + 0.5 * jnp.log1p(e * (e + 2 * jnp.cos(2 * y)))


def log_abs_rho(variables, x):
    """Re log rho(x) (B,), all a Metropolis chain on |rho|^2 needs: real exp, cos and log1p per unit where
    log rho takes a complex log cosh (measured: the sampling of an integrator stage about 2x faster)."""
    a = unpack(variables)[0]
    l, r = _spins(x)
    vis = (l + r).astype(a.real.dtype) @ a.real
    return vis + sum(jnp.sum(_log_abs_cosh(t), -1) for t in _hidden(variables, l, r))


def log_derivatives(variables, x):
    """O_k(x) = d log rho(x) / d theta_k in closed form, as a tree like the variables with a leading
    batch axis (B, *shape). Real and imaginary part of a weight w enter as w and i w through the
    holomorphic rows and as w* and -i w* through the columns: d/d Re = D_row + D_col, d/d Im = i (D_row - D_col)."""
    tl, tr, tm = (jnp.tanh(t) for t in _hidden(variables, *_spins(x)))
    l, r = (s.astype(tl.dtype) for s in _spins(x))

    def reim(row, col):  # (d/d Re, d/d Im) stacked on a last axis like the stored parameters
        return jnp.stack([row + col, 1j * (row - col)], -1)

    d = {"a": reim(l, r), "b": reim(tl, tr), "W": reim(tl[:, :, None] * l[:, None, :], tr[:, :, None] * r[:, None, :]),
         "c": jnp.stack([2 * tm, jnp.zeros_like(tm)], -1),  # Im c drops out of rho
         "U": reim(tm[:, :, None] * l[:, None, :], tm[:, :, None] * r[:, None, :])}
    return {"params": d} if "params" in variables else d


def _stable_pq(t):
    """p, q = (1 + tanh t) / 2, (1 - tanh t) / 2 as 1 / (1 + e^-2t), 1 / (1 + e^2t) through g = e^(-2|t|)
    (|g| <= 1): 1 - tanh t cancels to 0 for Re t above ~19 in float64 (relative error eps e^(2|Re t|)),
    and the e^-d term it weights is what matters when a flip turns the activation's sign."""
    neg = t.real < 0
    g = jnp.exp(-2 * jnp.where(neg, -t, t))
    big, small = 1 / (1 + g), g / (1 + g)
    return jnp.where(neg, small, big), jnp.where(neg, big, small)


def _connected_groups(changed_sites):
    """The columns of y grouped by how many sites they change: (k, columns, sites (C, k))."""
    by_k = {}
    for j, s in enumerate(changed_sites):
        by_k.setdefault(len(s), ([], []))
        by_k[len(s)][0].append(j)
        by_k[len(s)][1].append(s)
    return [(k, np.asarray(c), np.asarray(s, np.int32).reshape(len(c), k)) for k, (c, s) in by_k.items()]


# the product of per-unit ratios stays inside float64 (and exp(+-2V) finite) while its log-magnitude bound
# sum_h max |Re d_h| is below this (exp(709) overflows); above it, the sum of log cosh differences
PRODUCT_LIMIT = 600.0


def log_rho_ratio_connected(variables, x, y, changed_sites):
    """log rho(y) - log rho(x) for the connected configurations y (B, M, N) of x (B, N) (digits 2 * ket +
    bra, as operators.jax_apply.JaxTable.local_values passes them), column j differing from x at most on
    the sites changed_sites[j]; all a local value needs (pass log rho(x) = 0 beside it). From the
    activations theta of x alone: flipping spins s_j = (l'_j - l_j)/2 in {-1, 0, 1} shifts theta_h by
    d_h = 2 sum_j s_j V_hj, and

        cosh(theta + d) / cosh(theta) = p e^d + q e^-d,   p, q = (1 +- tanh theta) / 2.

    Fast form: the product over units of p e^d + q e^-d with e^(+-d) products of exp(+-2 V_hj) computed
    once per call, one log per connection, p and q without cancellation (`_stable_pq`); no transcendental
    function per connection and unit. That product leaves float64 (inf, 0 or nan) once
    sum_h |Re d_h| nears 709, which large weights reach: when the parameters' bound on it exceeds
    PRODUCT_LIMIT, a lax.cond takes the sum over units of log cosh(theta + d) - log cosh(theta) instead
    (stable at any size; measured about 4x the fast form's local values on the CPU)."""
    xd = jnp.stack([x >> 1, x & 1], axis=1)  # (B, 2, N)
    l, r = _spins(xd)
    a, b, W, c, U = unpack(variables)
    th = _hidden(variables, l, r)
    groups = _connected_groups(changed_sites)
    kmax = max(k for k, _, _ in groups)
    # |Re d_h| <= 2 k max_j |Re V_hj| per flipped side; rows and columns share |Re W|, mixing units flip both
    bound = 2 * kmax * (2 * jnp.sum(jnp.max(jnp.abs(W.real), -1)) + 2 * jnp.sum(jnp.max(jnp.abs(U.real), -1)))
    flips = []
    for k, cols, sites in groups:
        old = x[:, sites]  # (B, C, k)
        new = y[:, cols[:, None], sites]
        sl, sr = (old >> 1) - (new >> 1), (old & 1) - (new & 1)  # (l' - l) / 2, (r' - r) / 2
        vis = 2 * jnp.sum(sl * a[sites] + sr * jnp.conj(a)[sites], -1)  # visible biases, (B, C)
        flips.append((k, cols, sites, sl, sr, vis))

    def product_form(th):
        pq = [_stable_pq(t) for t in th]
        ew, eu = jnp.exp(2 * W), jnp.exp(2 * U)
        # per hidden set: (exp(2 V) on the ket, on the bra); exp(-2 V) = 1 / that, its conjugate for the bra
        sets = [(ew, None), (None, jnp.conj(ew)), (eu, jnp.conj(eu))]
        out = jnp.zeros(y.shape[:2], th[0].dtype)
        for k, cols, sites, sl, sr, vis in flips:
            ratio = 1.0
            for (p, q), (e_ket, e_bra) in zip(pq, sets):
                e_up, e_dn = 1.0, 1.0  # e^d and e^-d per (sample, column, unit)
                for s, e in ((sl, e_ket), (sr, e_bra)):
                    if e is None:
                        continue
                    eg = jnp.moveaxis(e[:, sites], 0, -1)  # (C, k, units)
                    for m in range(k):
                        sm = s[:, :, m, None]
                        up, dn = eg[None, :, m], 1 / eg[None, :, m]
                        e_up = e_up * jnp.where(sm > 0, up, jnp.where(sm < 0, dn, 1.0))
                        e_dn = e_dn * jnp.where(sm > 0, dn, jnp.where(sm < 0, up, 1.0))
                ratio = ratio * jnp.prod(p[:, None] * e_up + q[:, None] * e_dn, -1)
            out = out.at[:, cols].set(vis + jnp.log(ratio))
        return out

    def log_form(th):
        sets = [(W, None), (None, jnp.conj(W)), (U, jnp.conj(U))]
        base = [jnp.sum(logcosh(t), -1)[:, None] for t in th]  # log cosh(theta) of x, shared by every group
        out = jnp.zeros(y.shape[:2], th[0].dtype)
        for k, cols, sites, sl, sr, vis in flips:
            acc = vis
            for t, t_sum, (v_ket, v_bra) in zip(th, base, sets):
                d = 0.0
                for s, v in ((sl, v_ket), (sr, v_bra)):
                    if v is None:
                        continue
                    vg = jnp.moveaxis(v[:, sites], 0, -1)  # (C, k, units)
                    for m in range(k):
                        d = d + 2 * s[:, :, m, None] * vg[None, :, m]
                acc = acc + jnp.sum(logcosh(t[:, None] + d), -1) - t_sum
            out = out.at[:, cols].set(acc)
        return out

    return jax.lax.cond(bound < PRODUCT_LIMIT, product_form, log_form, th)
