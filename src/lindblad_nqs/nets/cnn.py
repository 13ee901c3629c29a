"""The convolutional density operator of mellak2024 (Flax).

Input: a doubled configuration (B, 2, N) of bits; the spins s = 1 - 2 bit of the ket and the bra are
the two input channels of an image with the lattice's shape (N,) or (Lx, Ly). Convolution layers
without bias, each followed by the leaky ReLU (alpha = 0.01), padding periodic (wrap-around) or open
(zeros) following the lattice boundary; then mean or sum pooling over the lattice (translation
invariance, parameters independent of the lattice size) or no pooling (flatten); then a dense layer to
two outputs F0, F1 that are the real and imaginary part of log rho(sigma, sigma').

`hermitian`: log of (rho(s, s') + conj(rho(s', s))) / 2 with rho = exp(F0 + i F1), Hermitian by
construction at twice the network evaluations (2.4-2.7x the time per iteration, measured on 6 spins). This is
mellak2024's construction ("To represent a Hermitian density operator we start by parametrizing" rho from the
network output A; the equation is lost from the text): the paper gives up positivity only ("give up the
explicit restriction to positive semi-definite") and its Fig. 5 shows real positive and negative
eigenvalues, so rho is Hermitian and indefinite. The configs set it for every paper network; `hermitian:
false` (rho = exp A, neither Hermitian nor positive) is this project's option beside it.

Initialisation as in the paper: kernels ~ N(0, 2 / v_n) with v_n the number of parameters of layer n
(He-style), dense weights likewise, dense bias zero. The paper's chain network (features [6, 20],
kernels [3, 3], sum or mean pooling) has 36 + 360 + 42 = 438 parameters; the 2D network (features
[6, 6, 6], kernels [[2, 2]] * 3) has 48 + 144 + 144 + 14 = 350.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn


def _normal(std: float):
    def init(key, shape, dtype=jnp.float32):
        return std * jax.random.normal(key, shape, dtype)

    return init


class CNNDensityOperator(nn.Module):
    shape: tuple[int, ...]  # lattice shape (N,) or (Lx, Ly)
    features: Sequence[int] = (6, 20)
    kernels: Sequence[Sequence[int]] = ((3,), (3,))
    periodic: bool = True
    pooling: str = "sum"  # sum | mean | none
    hermitian: bool = False
    alpha: float = 0.01
    init_scale: float = 1.0

    def _amplitude(self, x):
        """x (B, 2, N) bits -> complex log amplitude (B,)."""
        B = x.shape[0]
        s = (1 - 2 * x.astype(jnp.float32))  # (B, 2, N)
        h = jnp.moveaxis(s, 1, -1).reshape((B, *self.shape, 2))
        c_in = 2
        for n, (f, ks) in enumerate(zip(self.features, self.kernels)):
            ks = tuple(int(k) for k in ks)
            pads = [(0, 0)] + [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in ks] + [(0, 0)]
            h = jnp.pad(h, pads, mode="wrap" if self.periodic else "constant")
            v = int(np.prod(ks)) * c_in * f
            h = nn.Conv(f, ks, padding="VALID", use_bias=False, name=f"conv{n}",
                        kernel_init=_normal(self.init_scale * np.sqrt(2.0 / v)))(h)
            h = nn.leaky_relu(h, self.alpha)
            c_in = f
        if self.pooling == "sum":
            h = h.reshape(B, -1, c_in).sum(1)
        elif self.pooling == "mean":
            h = h.reshape(B, -1, c_in).mean(1)
        else:
            h = h.reshape(B, -1)
        v = h.shape[-1] * 2
        out = nn.Dense(2, name="dense", kernel_init=_normal(self.init_scale * np.sqrt(2.0 / v)),
                       bias_init=nn.initializers.zeros)(h)
        return out[:, 0] + 1j * out[:, 1]

    @nn.compact
    def __call__(self, x):
        if not self.hermitian:
            return self._amplitude(x)
        both = self._amplitude(jnp.concatenate([x, x[:, ::-1]], axis=0))
        a, b = jnp.split(both, 2)
        b = jnp.conj(b)
        m = jnp.maximum(a.real, b.real)
        return m + jnp.log(0.5 * (jnp.exp(a - m) + jnp.exp(b - m)))


def n_params(params) -> int:
    return int(sum(np.prod(p.shape) for p in jax.tree_util.tree_leaves(params)))
