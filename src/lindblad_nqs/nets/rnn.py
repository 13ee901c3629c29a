"""Autoregressive RNN over POVM outcome strings (reh2021): p(a) = prod_i p(a_i | a_<i), 4 outcomes a site.

A stack of `depth` recurrent cells reads the one-hot of the previous outcome (zeros at the first
site); a dense layer on the top cell's state gives the logits of the next outcome, and a softmax the
conditional. So p is normalised by construction, log p is exact (one pass over the string) and
ancestral sampling (one `lax.scan` over sites, `jax.random.categorical` per site) draws exact,
independent samples: no Markov chain.

Cells
  gru  the standard GRU (Cho et al.; Flax's GRUCell equations): r, z gates, n = tanh(W_n x + b_n +
       r * (U_n h + c_n)), h' = (1 - z) n + z h.
  elu  h' = elu(W h + U onehot(a_prev) + b): the last outcome and the history meet *inside* the
       nonlinearity. jVMC's plain RNN cell applies the activation to the history alone and adds the
       outcome's embedding afterwards, h' = elu(W h + b) + U onehot(a_prev); the state is then a
       nonlinear function of the history plus a linear term in the last outcome, so the network cannot
       form products of the last outcome with anything earlier (the conditionals it can express are
       poor: measured there, its error stays at 0.1-0.4 where a GRU reaches 1e-3). This cell is the
       usual Elman form, which has no such restriction.

Product-state initialisation: the output kernel is drawn with standard deviation `init_noise` (zero:
exactly zero) and the output bias is log q, with q the single-site POVM distribution of the product
state; then every conditional is q and p(a) = prod_i q(a_i) exactly (up to the noise). Outcomes of
probability zero (e.g. the z+ frame element for a z- state) get log q = log(floor), a floor of 1e-10:
a finite bias keeps log p and its gradient finite.

The recurrent cells are written out in jnp (not as Flax submodules) so that a `lax.scan` over sites
can close over their parameters in both the log-probability and the sampler.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

CELLS = ("gru", "elu")
K = 4  # outcomes per site
PROB_FLOOR = 1e-10


def product_bias(q: Sequence[float]) -> np.ndarray:
    q = np.maximum(np.asarray(q, float), PROB_FLOOR)
    return np.log(q / q.sum())


class POVMRNN(nn.Module):
    n_sites: int
    hidden: int = 10
    depth: int = 1
    cell: str = "gru"
    product: Sequence[float] | None = None  # single-site distribution q of the initial product state
    init_noise: float = 1e-2
    dtype: object = jnp.float64

    def setup(self):
        if self.cell not in CELLS:
            raise ValueError(f"unknown cell {self.cell!r}; allowed: {', '.join(CELLS)}")
        H, dt = self.hidden, self.dtype
        layers = []
        for layer in range(self.depth):
            d_in = K if layer == 0 else H
            scale_in, scale_h = 1.0 / np.sqrt(d_in), 1.0 / np.sqrt(H)
            n_gates = 3 if self.cell == "gru" else 1
            p = {
                "W": self.param(f"W{layer}", nn.initializers.normal(scale_in, dt), (d_in, n_gates * H)),
                "U": self.param(f"U{layer}", nn.initializers.orthogonal(scale=1.0, dtype=dt), (H, n_gates * H))
                if self.cell == "gru" else
                self.param(f"U{layer}", nn.initializers.normal(scale_h, dt), (H, H)),
                "b": self.param(f"b{layer}", nn.initializers.zeros_init(), (n_gates * H,), dt),
            }
            if self.cell == "gru":
                p["c"] = self.param(f"c{layer}", nn.initializers.zeros_init(), (H,), dt)
            layers.append(p)
        self.layers = layers
        noise = float(self.init_noise)
        kinit = nn.initializers.normal(noise, dt) if noise > 0 else nn.initializers.zeros_init()
        self.Wo = self.param("Wo", kinit, (H, K), dt)
        bias = np.zeros(K) if self.product is None else product_bias(self.product)
        self.bo = self.param("bo", lambda key, shape, dtype: jnp.asarray(bias, dtype), (K,), dt)

    # --- one site -------------------------------------------------------------------------------
    def _cell(self, p, h, x):
        if self.cell == "gru":
            H = self.hidden
            gi = x @ p["W"] + p["b"]
            gh = h @ p["U"]
            r = jax.nn.sigmoid(gi[..., :H] + gh[..., :H])
            z = jax.nn.sigmoid(gi[..., H:2 * H] + gh[..., H:2 * H])
            n = jnp.tanh(gi[..., 2 * H:] + r * (gh[..., 2 * H:] + p["c"]))
            return (1.0 - z) * n + z * h
        return jax.nn.elu(h @ p["U"] + x @ p["W"] + p["b"])

    def _step(self, hs, x):
        """(new states, log conditional (B, 4)) from states hs (depth, B, H) and input x (B, 4)."""
        new = []
        inp = x
        for layer, p in enumerate(self.layers):
            h = self._cell(p, hs[layer], inp)
            new.append(h)
            inp = h
        logits = inp @ self.Wo + self.bo
        return jnp.stack(new), jax.nn.log_softmax(logits, axis=-1)

    def _zeros(self, B):
        return jnp.zeros((self.depth, B, self.hidden), self.dtype), jnp.zeros((B, K), self.dtype)

    # --- log p of strings (B, N) ---------------------------------------------------------------------
    def __call__(self, a):
        a = jnp.asarray(a).astype(jnp.int32)
        B = a.shape[0]
        hs, x0 = self._zeros(B)
        onehots = jax.nn.one_hot(a, K, dtype=self.dtype)  # (B, N, 4)
        inputs = jnp.concatenate([x0[:, None], onehots[:, :-1]], axis=1).swapaxes(0, 1)  # (N, B, 4)

        def body(hs, xs):
            x, target = xs
            hs, logc = self._step(hs, x)
            return hs, jnp.sum(logc * target, axis=-1)

        _, logps = jax.lax.scan(body, hs, (inputs, onehots.swapaxes(0, 1)))
        return jnp.sum(logps, axis=0)

    # --- exact ancestral sampling ---------------------------------------------------------------------
    def sample(self, key, n_samples: int):
        """(strings (B, N) int8, log p (B,)): i.i.d. exact samples."""
        hs, x0 = self._zeros(n_samples)
        keys = jax.random.split(key, self.n_sites)

        def body(carry, k):
            hs, x = carry
            hs, logc = self._step(hs, x)
            s = jax.random.categorical(k, logc, axis=-1)
            return (hs, jax.nn.one_hot(s, K, dtype=self.dtype)), (s, jnp.take_along_axis(logc, s[:, None], 1)[:, 0])

        _, (s, lp) = jax.lax.scan(body, (hs, x0), keys)
        return s.T.astype(jnp.int8), jnp.sum(lp, axis=0)

    def conditionals(self, a):
        """(B, N, 4) all conditionals p(. | a_<i) along strings a (for tests and diagnostics)."""
        a = jnp.asarray(a).astype(jnp.int32)
        hs, x0 = self._zeros(a.shape[0])
        onehots = jax.nn.one_hot(a, K, dtype=self.dtype)
        inputs = jnp.concatenate([x0[:, None], onehots[:, :-1]], axis=1).swapaxes(0, 1)
        _, logc = jax.lax.scan(lambda hs, x: self._step(hs, x), hs, inputs)
        return jnp.exp(logc).swapaxes(0, 1)


class LogProbTable(nn.Module):
    """Full-rank ansatz for tests: log p(a) = log_softmax(theta)[index(a)] over all 4^N strings."""
    n_sites: int
    dtype: object = jnp.float64

    @nn.compact
    def __call__(self, a):
        theta = self.param("logits", nn.initializers.normal(0.1, self.dtype), (K**self.n_sites,))
        idx = jnp.asarray(a).astype(jnp.int32) @ jnp.asarray(K ** np.arange(self.n_sites - 1, -1, -1), jnp.int32)
        return jax.nn.log_softmax(theta)[idx]
