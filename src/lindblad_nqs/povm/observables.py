"""Observables from POVM samples: <O> = sum_b p(b) Tr(O N^b), estimated as a sample mean.

For a Pauli string O = prod_s P_s the dual frame factorises, Tr(O N^b) = prod_s Tr(P_s N^{b_s})
(Tr N^b = 1 on the other sites), so every sample carries an unbiased single-sample estimate.
"""

from __future__ import annotations

import numpy as np

from ..observables import Observable
from .frames import POVM


def pauli_string_samples(povm: POVM, a: np.ndarray, string: dict[int, str]) -> np.ndarray:
    """(B,) per-sample estimator of <prod_s P_s> for strings a (B, N)."""
    a = np.asarray(a, np.int64)
    out = np.ones(a.shape[0])
    for s, p in string.items():
        out = out * povm.pauli_vector(p)[a[:, s]]
    return out


def observable_samples(povm: POVM, obs: Observable, a: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(B,) per-sample values whose (weighted) mean is the observable. A connected correlator
    <AB> - <A><B> uses the linearisation AB - (<A> B + A <B> - <A><B>): same mean, and its spread
    gives the first-order standard error."""
    w = _weights(a, weights)
    total = np.zeros(len(a))
    for term in obs.sites:
        f = pauli_string_samples(povm, a, {s: obs.pauli for s in term})
        if obs.connected:
            A = pauli_string_samples(povm, a, {term[0]: obs.pauli})
            B = pauli_string_samples(povm, a, {term[1]: obs.pauli})
            mA, mB = w @ A, w @ B
            f = f - (mA * B + A * mB - mA * mB)
        total += f
    return total / len(obs.sites)


def estimate(povm: POVM, obs: Observable, a: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """(value, standard error). Without weights a are i.i.d. samples; with weights (summing to 1,
    e.g. p(a) on all 4^N strings) the value is exact and the standard error is reported as 0."""
    f = observable_samples(povm, obs, a, weights)
    if weights is not None:
        return float(np.asarray(weights) @ f), 0.0
    n = len(f)
    return float(f.mean()), float(f.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0


def _weights(a, weights):
    if weights is None:
        return np.full(len(a), 1.0 / len(a))
    return np.asarray(weights, float)
