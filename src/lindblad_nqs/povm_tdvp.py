"""The POVM TDVP (reh2021) in JAX: local values of the POVM Lindbladian and the TDVP right-hand side.

`POVMApplier` applies the NumPy local tensors of povm.lindbladian.POVMLindbladian (the same L_a^b
tables; nothing is derived again) from JAX: for strings a (B, N) it builds the connected strings b
(B, C, N) and coefficients (B, C) with column 0 = a carrying every diagonal contribution, so that

    E(a) = sum_b L_a^b p(b) / p(a) = sum_c mel[:, c] exp(log p(b_c) - log p(a)).

Each term on sites s contributes its nonzero columns (at most 15 off-diagonal strings a term),
a fixed shape, so the whole thing jits.

`rhs` gives theta_dot of S theta_dot = F, S = <dO dO>, F = <dO dE> (variational.tdvp) from exact
samples of the RNN (equal weights) or, for tests on tiny systems, from all 4^N strings with weights p.
"""

from __future__ import annotations

import numpy as np

from .povm.lindbladian import POVMLindbladian


class POVMApplier:
    # connected strings per network call: the RNN's intermediates of a block stay in cache, where one
    # call on all B x C strings streams arrays of B C H floats through memory at every site
    chunk = 8192

    def __init__(self, lind: POVMLindbladian):
        self.lind = lind
        self.n = lind.n
        diag_parts, off_parts = [], []
        for t in lind.terms:
            k = len(t.sites)
            cols = np.asarray(t.cols, np.int64)
            digits = np.stack([(cols // 4 ** (k - 1 - m)) % 4 for m in range(k)], axis=1)
            diag_parts.append((t.sites, np.diag(t.L).copy()))
            off_parts.append((t.sites, np.asarray(t.L)[:, cols], cols, digits))
        self._diag = diag_parts
        self._off = off_parts
        self.n_connected = 1 + sum(len(c) for _, _, c, _ in off_parts)

    def connected(self, a):
        """(b (B, C, N) int32, mel (B, C)) in JAX; padded entries (L_a^b = 0 or b = a) have mel 0."""
        import jax.numpy as jnp

        a = jnp.asarray(a).astype(jnp.int32)
        B = a.shape[0]
        diag = jnp.zeros((B,))
        bs, mels = [a[:, None, :]], []
        for (sites, d), (_, Lc, cols, digits) in zip(self._diag, self._off):
            r = _local_index(a, sites)
            diag = diag + jnp.asarray(d)[r]
            m = jnp.asarray(Lc)[r]  # (B, ncols)
            m = jnp.where(r[:, None] == jnp.asarray(cols)[None, :], 0.0, m)
            b = jnp.broadcast_to(a[:, None, :], (B, len(cols), self.n))
            for mi, s in enumerate(sites):
                b = b.at[:, :, s].set(jnp.broadcast_to(jnp.asarray(digits[:, mi], jnp.int32)[None], (B, len(cols))))
            bs.append(b)
            mels.append(m)
        return jnp.concatenate(bs, axis=1), jnp.concatenate([diag[:, None]] + mels, axis=1)

    def local_values(self, log_p, a, log_pa=None):
        """E(a) = sum_b L_a^b p(b)/p(a) for a log-probability function log_p(strings (M, N)) -> (M,)."""
        import jax.numpy as jnp

        b, mel = self.connected(a)
        B, C, N = b.shape
        lpa = log_p(a) if log_pa is None else log_pa
        lpb = _chunked(log_p, b.reshape(B * C, N), self.chunk).reshape(B, C)
        ratio = jnp.exp(jnp.where(mel != 0, lpb - lpa[:, None], 0.0))
        return jnp.sum(mel * ratio, axis=1)


def _chunked(fn, x, chunk):
    """fn(x) for x (M, N), evaluated in blocks of `chunk` rows by lax.map (padded with copies of row 0)."""
    import jax
    import jax.numpy as jnp

    M = x.shape[0]
    if M <= chunk:
        return fn(x)
    n_blocks = -(-M // chunk)
    pad = n_blocks * chunk - M
    xp = jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad,) + x.shape[1:])]) if pad else x
    out = jax.lax.map(fn, xp.reshape((n_blocks, chunk) + x.shape[1:]))
    return out.reshape(n_blocks * chunk)[:M]


def _local_index(a, sites):
    r = a[:, sites[0]]
    for s in sites[1:]:
        r = r * 4 + a[:, s]
    return r


def make_rhs(state, applier: POVMApplier, opts):
    """rhs(theta, a, w) -> (theta_dot, A, diag) for strings a (B, N) with weights w (None: samples)."""
    import jax

    from .variational import tdvp

    @jax.jit
    def rhs(theta, a, w=None):
        log_p = lambda x: state.log_value(theta, x)  # noqa: E731
        lpa = log_p(a)
        O = state.jacobian(theta, a)
        E = applier.local_values(log_p, a, lpa)
        theta_dot, A, d = tdvp.solve(O, E, opts, w=w)
        return theta_dot, A, d

    return rhs


def make_stage(module, state, applier: POVMApplier, opts, n_samples: int):
    """stage(theta, key) -> (theta_dot, A, diag, finite): one integrator stage in one jitted call --
    exact samples, local values, Jacobian and the regularised solve -- so that nothing returns to the
    host between sampling and solving (the samples never leave the device)."""
    import jax
    import jax.numpy as jnp

    from .variational import tdvp

    @jax.jit
    def stage(theta, key):
        a, lpa = module.apply(state.unravel(theta), key, n_samples, method="sample")
        log_p = lambda x: state.log_value(theta, x)  # noqa: E731
        E = applier.local_values(log_p, a, lpa)
        theta_dot, A, d = tdvp.solve(state.jacobian(theta, a), E, opts)
        return theta_dot, A, d, jnp.all(jnp.isfinite(theta_dot))

    return stage
