"""Pauli-string expectations of dense density matrices and state vectors, in O(2^N) each.

With bits as in liouvillian.connected, a Pauli string P maps |t> to phase(t) |t xor F>, where F flips
the x and y sites, so Tr(P rho) = sum_t phase(t) rho[t, t xor F].
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=4096)
def _string_action(n: int, string: tuple[tuple[int, str], ...]):
    t = np.arange(2**n, dtype=np.int64)
    flip = 0
    phase = np.ones(2**n, complex)
    for site, a in string:
        bit = (t >> (n - 1 - site)) & 1
        sign = 1 - 2 * bit
        if a == "x":
            flip |= 1 << (n - 1 - site)
        elif a == "y":
            flip |= 1 << (n - 1 - site)
            phase = phase * 1j * sign
        else:
            phase = phase * sign
    return t ^ flip, phase


def pauli_expectation(state: np.ndarray, n: int, string: dict[int, str]) -> float:
    """<P> for a density matrix (2^N x 2^N) or a normalised state vector (2^N,)."""
    target, phase = _string_action(n, tuple(sorted(string.items())))
    t = np.arange(2**n)
    if state.ndim == 1:
        return float(np.real(np.sum(phase * state[t] * state[target].conj())))
    return float(np.real(np.sum(phase * state[t, target])))
