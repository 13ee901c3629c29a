"""Observables from the diagonal sampler, with jackknife errors over chains.

Samples sigma come from |rho(sigma, sigma)| (the modulus). With the phase s(sigma) = rho(sigma, sigma) /
|rho(sigma, sigma)| carried as a weight, a Pauli string P (flipping the set F of its x and y sites,
P|u> = phase(u)|u xor F>) has

    <P> = Tr(P rho) / Tr(rho) = E[phase(sigma^F) rho(sigma^F, sigma) / |rho(sigma, sigma)|] / E[s(sigma)].

For a positive rho, s = 1 and this is the usual estimator. The weight that is not positive is reported:
`neg_weight` = E[Re s' < 0] (the share of the sampled |rho| diagonal whose phase s' relative to the
mean phase, which is a physically irrelevant global phase, has a negative real part) and
`mean_sign` = |E[s]| (1 for a positive diagonal up to a global phase). Errors: delete-one-block jackknife over chain blocks,
through the ratio and, for connected correlators, the products.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..model import HADAMARD_PAULI
from ..observables import Observable, evaluate


def pauli_strings(observables) -> list[tuple[tuple[int, str], ...]]:
    keys: dict = {}
    for o in observables:
        for term in o.sites:
            keys.setdefault(tuple(sorted((s, o.pauli) for s in term)), None)
            if o.connected:
                for s in term:
                    keys.setdefault(((s, o.pauli),), None)
    return list(keys)


def _string_phase(bits_flipped: np.ndarray, string) -> np.ndarray:
    """phase(u) of the string at u = the flipped configuration (bits (S, N))."""
    ph = np.ones(bits_flipped.shape[0], complex)
    for site, a in string:
        sign = 1 - 2 * bits_flipped[:, site].astype(float)
        if a == "y":
            ph = ph * 1j * sign
        elif a == "z":
            ph = ph * sign
    return ph


def _chunked(log_rho, params, x: np.ndarray, chunk: int) -> np.ndarray:
    """log_rho on x in pieces of one fixed size (the last one padded), so it compiles once."""
    import jax.numpy as jnp

    pad = (-len(x)) % chunk
    xp = np.concatenate([x, np.repeat(x[:1], pad, axis=0)]) if pad else x
    out = np.concatenate([np.asarray(log_rho(params, jnp.asarray(xp[i:i + chunk])))
                          for i in range(0, len(xp), chunk)])
    return out[: len(x)].astype(complex)


def estimate(log_rho, params, xs: np.ndarray, lrs: np.ndarray, observables: list[Observable],
             n_blocks: int = 32, chunk: int = 8192, parity_sector: bool = False, basis: str = "z"):
    """xs (C, S, 2, N) diagonal samples (ket = bra), lrs (C, S) their complex log rho.

    basis: "x" when rho is written in the Hadamard-rotated basis (SpinSystem.in_x_basis): each Pauli
    string of the observables is measured as its rotated image, with the sign of HADAMARD_PAULI.

    parity_sector: the model conserves Z parity and the ansatz was trained inside the sector
    parity(ket) = parity(bra) only, so its values outside are meaningless and the symmetric state's are
    zero: a string that flips an odd number of sites has expectation 0 exactly.

    Returns (rows {name: (value, stderr)}, info dict)."""
    xs = np.asarray(xs)
    lrs = np.asarray(lrs).astype(complex)
    C, S, _, n = xs.shape
    ket = xs[:, :, 0, :].reshape(C * S, n)
    lr = lrs.reshape(C * S)
    sgn = np.exp(1j * lr.imag)
    if basis not in ("z", "x"):
        raise ValueError(f"basis must be 'z' or 'x', got {basis!r}")
    rotated = basis == "x"
    strings = pauli_strings([replace(o, pauli=HADAMARD_PAULI[o.pauli][0]) for o in observables] if rotated
                            else observables)
    flips = {}
    for st in strings:
        F = tuple(sorted(s for s, a in st if a in "xy"))
        flips.setdefault(F, None)
    # rho(sigma^F, sigma) / |rho(sigma, sigma)| for every flip set F
    ratio = {}
    for F in flips:
        if not F:
            ratio[F] = sgn
            continue
        if parity_sector and len(F) % 2:
            ratio[F] = np.zeros_like(sgn)
            continue
        kf = ket.copy()
        kf[:, list(F)] ^= 1
        x = np.stack([kf, ket], axis=1).astype(np.int8)
        out = _chunked(log_rho, params, x, chunk)
        ratio[F] = np.exp(out - lr.real)
    num = {}
    for st in strings:
        F = tuple(sorted(s for s, a in st if a in "xy"))
        kf = ket.copy()
        if F:
            kf[:, list(F)] ^= 1
        num[st] = _string_phase(kf, st) * ratio[F]
    nb = max(2, min(n_blocks, C)) if C >= 2 else max(2, min(n_blocks, S))
    # blocks: whole chains when there are enough, else contiguous pieces of one chain
    if C >= 2:
        block_of = np.repeat(np.arange(C) % nb, S)
    else:
        block_of = (np.arange(S) * nb) // S
    def block_means(v):
        sums = np.zeros(nb, complex)
        np.add.at(sums, block_of, v)
        cnt = np.bincount(block_of, minlength=nb)
        return sums, cnt

    den_s, cnt = block_means(sgn)
    num_s = {st: block_means(v)[0] for st, v in num.items()}

    def expect_factory(mask_out: int | None):
        keep = np.ones(nb, bool)
        if mask_out is not None:
            keep[mask_out] = False
        d = den_s[keep].sum()
        vals = {st: num_s[st][keep].sum() / d for st in strings}

        def expect(string):
            sign = 1.0
            if rotated:
                sign = float(np.prod([HADAMARD_PAULI[a][1] for a in string.values()]))
                string = {s: HADAMARD_PAULI[a][0] for s, a in string.items()}
            return sign * float(np.real(vals[tuple(sorted(string.items()))]))
        return expect, vals

    full_expect, full_vals = expect_factory(None)
    rows = {}
    for o in observables:
        v = evaluate(o, full_expect)
        jk = np.array([evaluate(o, expect_factory(b)[0]) for b in range(nb)])
        err = float(np.sqrt((nb - 1) / nb * np.sum((jk - jk.mean()) ** 2)))
        rows[o.name] = (v, err)
    mean_sign = sgn.mean()
    # a global phase of rho is unphysical: measure the sign relative to the mean phase of the diagonal
    rel = sgn * np.exp(-1j * np.angle(mean_sign))
    info = {
        "diag_samples": int(C * S),
        "neg_weight": float(np.mean(rel.real < 0)),
        "mean_sign": float(abs(mean_sign)),
        "mean_sign_phase": float(np.angle(mean_sign)),
        "max_imag_expectation": float(max((abs(np.imag(v)) for v in full_vals.values()), default=0.0)),
    }
    return rows, info
