"""Doubled configurations as arrays.

A doubled configuration (sigma, sigma') of N sites is an int8 array of shape (2, N): row 0 the ket
sigma, row 1 the bra sigma', entry 0 = |up>, 1 = |down> (the bit of liouvillian.connected). Networks see
spins s = 1 - 2 * bit, so up = +1. The integer index of (ket, bra) is ket * 2^N + bra with site 0 the
most significant bit, i.e. row-major vec(rho) as in liouvillian.connected.dense_liouvillian.

The Z-parity sector: parity(ket) == parity(bra), i.e. sum_i (s_i - s'_i) = 0 mod 4 in +-1 units
(= 2n in spin-1/2 units, the paper's "allowed sector").
"""

from __future__ import annotations

import numpy as np


def int_to_bits(c: np.ndarray, n: int) -> np.ndarray:
    """(...,) integers in [0, 2^n) -> (..., n) int8 bits, site 0 most significant."""
    c = np.asarray(c, np.int64)
    shifts = n - 1 - np.arange(n)
    return ((c[..., None] >> shifts) & 1).astype(np.int8)


def bits_to_int(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, np.int64)
    n = b.shape[-1]
    return np.sum(b << (n - 1 - np.arange(n)), axis=-1)


def all_doubled(n: int) -> np.ndarray:
    """All 4^n doubled configurations, shape (4^n, 2, n), in the order of the index ket * 2^n + bra."""
    D = 2**n
    x = np.arange(D * D, dtype=np.int64)
    return np.stack([int_to_bits(x // D, n), int_to_bits(x % D, n)], axis=1)


def doubled_index(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    n = x.shape[-1]
    return bits_to_int(x[..., 0, :]) * 2**n + bits_to_int(x[..., 1, :])


def in_parity_sector(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.int64)
    return (x[..., 0, :].sum(-1) - x[..., 1, :].sum(-1)) % 2 == 0
