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

  lstm the standard LSTM (i, f, g, o gates; c' = f c + i g, h' = o tanh(c')), the carry (h, c).

Product-state initialisation (`product` given): the first layer's input kernel W is drawn with standard
deviation `init_noise` (zero: exactly zero), every bias that feeds a state is zero and the output bias is
log q, with q the single-site POVM distribution of the product state. From the zero initial state,
h' = cell(h = 0, W x = 0) = 0 for all three cells (tanh(0) = elu(0) = 0), so every hidden state stays
zero, every conditional is softmax(log q) = q and p(a) = prod_i q(a_i) exactly. The rest of the network
keeps its random initialisation (output kernel, recurrent kernels, deeper layers): the derivative of
log p along the first layer's W is then the output kernel times the cell's response to the previous
outcome, nonzero, so the Fisher metric has the directions that the first TDVP step needs (the
nearest-neighbour correlations the Lindbladian creates). The usual alternative -- output kernel at
(nearly) zero -- makes the derivatives along every recurrent weight (nearly) zero: S is then singular
exactly where the first step must move, the parameter velocities are huge and a signal-to-noise
cut-off meets 0/0 (jVMC's behaviour; measured in benchmarks/README.md). Outcomes of probability zero
(e.g. the z+ frame element for a z- state) get log q = log(floor), a floor of 1e-10: a finite bias
keeps log p and its gradient finite.

Site order and symmetry: `order` is the autoregressive path over the sites (for a square lattice a
snake, `Lattice.snake_ordering`; default 0..N-1). `symmetries` (|G|, N) are site permutations g of the lattice
(model.lattice.Lattice.symmetry_permutations, a group); with them the distribution is the orbit average
p_sym(a) = (1/|G|) sum_g p(g a), (g a)_i = a_{g_i}: log p_sym = logsumexp_g log p(g a) - log |G|, exact
with its gradient. It is sampled exactly by drawing a from p and applying a uniformly random g (the
distribution of g a is then (1/|G|) sum_g p(g^-1 b), the same average, as G is a group).

The recurrent cells are written out in jnp (not as Flax submodules) so that a `lax.scan` over sites
can close over their parameters in both the log-probability and the sampler.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

CELLS = ("gru", "lstm", "elu")
K = 4  # outcomes per site
PROB_FLOOR = 1e-10
_GATES = {"gru": 3, "lstm": 4, "elu": 1}


def product_bias(q: Sequence[float]) -> np.ndarray:
    q = np.maximum(np.asarray(q, float), PROB_FLOOR)
    return np.log(q / q.sum())


class POVMRNN(nn.Module):
    n_sites: int
    hidden: int = 10
    depth: int = 1
    cell: str = "gru"
    product: Sequence[float] | None = None  # single-site distribution q of the initial product state
    init_noise: float = 0.0
    order: Sequence[int] | None = None  # autoregressive path over the sites (default 0..N-1)
    symmetries: Sequence[Sequence[int]] | None = None  # (|G|, N) site permutations to average over
    dtype: object = jnp.float64

    def setup(self):
        if self.cell not in CELLS:
            raise ValueError(f"unknown cell {self.cell!r}; allowed: {', '.join(CELLS)}")
        H, dt, G = self.hidden, self.dtype, _GATES[self.cell]
        product = self.product is not None
        layers = []
        for layer in range(self.depth):
            d_in = K if layer == 0 else H
            scale_in, scale_h = 1.0 / np.sqrt(d_in), 1.0 / np.sqrt(H)
            if product and layer == 0:
                w_init = nn.initializers.normal(float(self.init_noise), dt) if self.init_noise > 0 \
                    else nn.initializers.zeros_init()
            else:
                w_init = nn.initializers.normal(scale_in, dt)
            u_init = nn.initializers.normal(scale_h, dt) if self.cell == "elu" \
                else nn.initializers.orthogonal(scale=1.0, dtype=dt)
            p = {"W": self.param(f"W{layer}", w_init, (d_in, G * H)),
                 "U": self.param(f"U{layer}", u_init, (H, G * H)),
                 "b": self.param(f"b{layer}", nn.initializers.zeros_init(), (G * H,), dt)}
            if self.cell == "gru":
                p["c"] = self.param(f"c{layer}", nn.initializers.zeros_init(), (H,), dt)
            layers.append(p)
        self.layers = layers
        self.Wo = self.param("Wo", nn.initializers.normal(1.0 / np.sqrt(H), dt), (H, K), dt)
        bias = np.zeros(K) if not product else product_bias(self.product)
        self.bo = self.param("bo", lambda key, shape, dtype: jnp.asarray(bias, dtype), (K,), dt)

    # --- one site -------------------------------------------------------------------------------
    def _cell(self, p, carry, x, layer):
        """carry: h (B, H), or (h, c) stacked as (2, B, H) for the LSTM. x: the outcome index (B,) at the
        first layer (the one-hot product is a row gather), the layer below's h otherwise."""
        H = self.hidden
        if layer == 0:  # x = K at the first site: the zero input
            gi = jnp.where((x < K)[:, None], p["W"][jnp.minimum(x, K - 1)], 0.0) + p["b"]
        else:
            gi = x @ p["W"] + p["b"]
        if self.cell == "lstm":
            h, c = carry[0], carry[1]
            g = gi + h @ p["U"]
            i, f, gg, o = (g[..., k * H:(k + 1) * H] for k in range(4))
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
            return jnp.stack([jax.nn.sigmoid(o) * jnp.tanh(c), c])
        h = carry
        if self.cell == "gru":
            gh = h @ p["U"]
            r = jax.nn.sigmoid(gi[..., :H] + gh[..., :H])
            z = jax.nn.sigmoid(gi[..., H:2 * H] + gh[..., H:2 * H])
            n = jnp.tanh(gi[..., 2 * H:] + r * (gh[..., 2 * H:] + p["c"]))
            return (1.0 - z) * n + z * h
        return jax.nn.elu(h @ p["U"] + gi)

    def _step(self, hs, x):
        """(new carries, log conditional (B, 4)) from carries hs (depth, [2,] B, H) and the previous
        outcome x (B,) int (K = 4 at the first site: the zero input row)."""
        new = []
        inp = x
        for layer, p in enumerate(self.layers):
            h = self._cell(p, hs[layer], inp, layer)
            new.append(h)
            inp = h[0] if self.cell == "lstm" else h
        logits = inp @ self.Wo + self.bo
        return jnp.stack(new), jax.nn.log_softmax(logits, axis=-1)

    def _zeros(self, B):
        shape = (self.depth, 2, B, self.hidden) if self.cell == "lstm" else (self.depth, B, self.hidden)
        return jnp.zeros(shape, self.dtype), jnp.full((B,), K, jnp.int32)

    @property
    def _order(self) -> np.ndarray:
        return np.arange(self.n_sites) if self.order is None else np.asarray(self.order, np.int64)

    # --- log p of strings (B, N) in autoregressive order -------------------------------------------------
    def _log_p_ordered(self, s):
        B = s.shape[0]
        hs, x0 = self._zeros(B)
        inputs = jnp.concatenate([x0[:, None], s[:, :-1]], axis=1).T  # (N, B): previous outcomes

        def body(hs, xs):
            x, target = xs
            hs, logc = self._step(hs, x)
            return hs, jnp.take_along_axis(logc, target[:, None], 1)[:, 0]

        _, logps = jax.lax.scan(body, hs, (inputs, s.T))
        return jnp.sum(logps, axis=0)

    def log_p_plain(self, a):
        """log p(a) of the network without the symmetry average."""
        a = jnp.asarray(a).astype(jnp.int32)
        return self._log_p_ordered(a[:, self._order])

    def __call__(self, a):
        a = jnp.asarray(a).astype(jnp.int32)
        if self.symmetries is None:
            return self.log_p_plain(a)
        g = jnp.asarray(np.asarray(self.symmetries, np.int64))
        B, n_g = a.shape[0], g.shape[0]
        orbit = a[:, g].reshape(B * n_g, self.n_sites)  # (g a)_i = a_{g_i}
        lp = self.log_p_plain(orbit).reshape(B, n_g)
        return jax.scipy.special.logsumexp(lp, axis=1) - np.log(n_g)

    # --- exact ancestral sampling ---------------------------------------------------------------------
    def sample(self, key, n_samples: int):
        """(strings (B, N) int8, log p (B,)): i.i.d. exact samples of the (symmetrised) distribution."""
        k_sites, k_group = jax.random.split(key)
        hs, x0 = self._zeros(n_samples)
        keys = jax.random.split(k_sites, self.n_sites)

        def body(carry, k):
            hs, x = carry
            hs, logc = self._step(hs, x)
            s = jax.random.categorical(k, logc, axis=-1).astype(jnp.int32)
            return (hs, s), jnp.take_along_axis(logc, s[:, None], 1)[:, 0]

        def body_s(carry, k):
            (hs, x), lp = body(carry, k)
            return (hs, x), (x, lp)

        _, (s, lp) = jax.lax.scan(body_s, (hs, x0), keys)
        a = jnp.zeros((n_samples, self.n_sites), jnp.int32).at[:, self._order].set(s.T)
        if self.symmetries is None:
            return a.astype(jnp.int8), jnp.sum(lp, axis=0)
        g = jnp.asarray(np.asarray(self.symmetries, np.int64))
        pick = jax.random.randint(k_group, (n_samples,), 0, g.shape[0])
        a = jnp.take_along_axis(a, g[pick], axis=1)
        return a.astype(jnp.int8), self(a)

    # --- connected strings from their sample's prefix -------------------------------------------------
    def _paths(self) -> np.ndarray:
        """(|G|, N) the sites read along each group element's autoregressive path: position i of g's path
        reads site g[order[i]] (the identity alone without symmetries)."""
        g = np.arange(self.n_sites)[None] if self.symmetries is None else np.asarray(self.symmetries, np.int64)
        return g[:, self._order]

    def first_changed(self, changed) -> np.ndarray:
        """(|G|, M) for each group element and each connected column j (which may differ from its sample
        only on the sites changed[j]) the first position of g's path that reads one of those sites."""
        pos = np.argsort(self._paths(), axis=1)  # pos[g, site]: where g's path reads the site
        return np.stack([pos[:, list(s)].min(axis=1) for s in changed], axis=1)

    def log_p_connected(self, a, y, changed):
        """log p (with the symmetry average) of strings y (B, M, N) of which y[:, j] equals the sample
        a (B, N) outside the sites changed[j] (a static tuple of sites per column: a term's sites).

        Along a path, every conditional up to the first position f that reads a changed site, and the
        carry after step f, are the sample's: log p(y) = sum_{i<f} log p(a_i | a_<i) + log p(y_f | a_<f)
        + the steps f+1..N-1 run on y from the sample's carry. One pass over the sample along every path
        gives those carries; then each (group element, column) pair needs only its N - 1 - f steps. f is
        static for every pair, so the pairs are grouped by f and each group is one scan of fixed length.
        Equal to __call__ on the flattened y to roundoff (tests); for the local values only."""
        a = jnp.asarray(a).astype(jnp.int32)
        y = jnp.asarray(y).astype(jnp.int32)
        B, M, N = y.shape
        paths = self._paths()
        G = paths.shape[0]
        first = self.first_changed(changed)  # (G, M)
        # the samples along every path: the carry after each step and the log conditionals
        sa = jnp.swapaxes(a[:, paths], 0, 1).reshape(G * B, N)  # (G B, N), g-major
        hs, x0 = self._zeros(G * B)
        inputs = jnp.concatenate([x0[:, None], sa[:, :-1]], axis=1).T

        def body(hs, x):
            hs, logc = self._step(hs, x)
            return hs, (hs, logc)

        _, (carries, logc) = jax.lax.scan(body, hs, inputs)  # (N, depth, [2,] G B, H), (N, G B, 4)
        own = jnp.take_along_axis(logc, sa.T[..., None], axis=2)[..., 0]  # (N, G B)
        before = jnp.concatenate([jnp.zeros((1, G * B), own.dtype), jnp.cumsum(own, axis=0)])  # sums over i < f
        carries = carries.reshape(carries.shape[:-2] + (G, B, carries.shape[-1]))
        logc, before = logc.reshape(N, G, B, K), before.reshape(N + 1, G, B)

        outs, order = [], []
        for f in np.unique(first):
            gi, ji = np.nonzero(first == f)  # the P pairs (g, column) whose path first changes at f
            P = len(gi)
            sb = y[:, ji[:, None], paths[gi]]  # (B, P, N): y along each pair's path
            lp = before[f][gi] + jnp.take_along_axis(logc[f][gi], sb[:, :, f].T[..., None], axis=2)[..., 0]
            if f < N - 1:
                flat = jnp.swapaxes(sb, 0, 1).reshape(P * B, N)
                h0 = carries[f][..., gi, :, :]  # the sample's carry after step f: (depth, [2,] P, B, H)
                h0 = h0.reshape(h0.shape[:-3] + (P * B, h0.shape[-1]))

                def tail(hs, xs):
                    x, target = xs
                    hs, lc = self._step(hs, x)
                    return hs, jnp.take_along_axis(lc, target[:, None], 1)[:, 0]

                _, lps = jax.lax.scan(tail, h0, (flat[:, f:N - 1].T, flat[:, f + 1:].T))
                lp = lp + jnp.sum(lps, axis=0).reshape(P, B)
            outs.append(lp)
            order.append(gi * M + ji)
        lp = jnp.concatenate(outs)[np.argsort(np.concatenate(order))].reshape(G, M, B)
        if self.symmetries is None:
            return lp[0].T
        return (jax.scipy.special.logsumexp(lp, axis=0) - np.log(G)).T

    def conditionals(self, a):
        """(B, N, 4) all conditionals p(. | a_<i) along strings a, in autoregressive order (tests)."""
        a = jnp.asarray(a).astype(jnp.int32)[:, self._order]
        hs, x0 = self._zeros(a.shape[0])
        inputs = jnp.concatenate([x0[:, None], a[:, :-1]], axis=1).T
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
