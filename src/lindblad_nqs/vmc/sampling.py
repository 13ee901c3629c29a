"""Samplers for density operators and their diagnostics.

Doubled sampler: Metropolis on (sigma, sigma') from p ~ |rho|^(2 beta) (beta = 1 is the L2-cost
distribution, beta < 1 the flattened distribution of Mellak et al.). Diagonal sampler: Metropolis on
sigma from p ~ |rho(sigma, sigma)| (the modulus: rho(sigma, sigma) of an unconstrained ansatz need not be
real and positive; its phase is carried as a weight by vmc.observables). Both run many chains in
parallel, jit-compiled, vectorised over the chains.

Moves (all symmetric, so the plain Metropolis ratio applies), on the doubled configuration of 2N bits:
    single  flip one of the 2N bits                   (leaves the Z-parity sector)
    pair    flip two distinct bits of the 2N           (stays in the sector parity(ket) = parity(bra))
    diag    flip site i in the ket and in the bra      (stays in the sector)
    swap    exchange ket and bra                       (stays in the sector; |rho| symmetric if Hermitian)
The sector-restricted mixture (pair, diag, swap) is used when the model conserves Z parity, so the chain
never visits elements that vanish by symmetry; otherwise (single, diag, swap). The diagonal sampler only
uses diag moves, so ket = bra throughout.

Every batch counts the proposed and accepted moves of each kind (SampleBatch.proposed, .accepted, in the
order of MOVES). The swap is accepted wherever |rho| is Hermitian-symmetric, whatever rho is, so the total
acceptance cannot tell a rho collapsed onto one element (s, s') and its mirror from a nearly pure state that
rejects most flips: the flips' own acceptance (SampleBatch.flip_acceptance, every kind but the swap) can.

Exact samplers (small systems): enumerate every configuration (in the sector) and draw from the exact
distribution; `enumerate` returns all of them once, with their log density as weight (full summation).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from .configs import all_doubled, in_parity_sector

MOVES = ("single", "pair", "diag", "swap")
PRNG_IMPL = "rbg"  # XLA's RngBitGenerator: compiles in a fraction of threefry's time on the CPU


def prng_key(seed: int):
    import jax

    return jax.random.key(int(seed), impl=PRNG_IMPL)


def move_probs(kind: str, sector: bool) -> np.ndarray:
    if kind == "diagonal":
        return np.array([0.0, 0.0, 1.0, 0.0])
    if sector:
        return np.array([0.0, 0.5, 0.4, 0.1])
    return np.array([0.5, 0.0, 0.4, 0.1])


FLIPS = tuple(i for i, m in enumerate(MOVES) if m != "swap")  # the moves that change a bit


def flip_mask(kind, u, n: int, xp=np):
    """The bits a move of kind (index into MOVES) flips in the doubled configuration flattened to 2N bits (ket,
    then bra), its sites drawn from uniforms u (..., 3): a single bit i, a pair i != j, or site s of ket and
    bra together; the swap's row is the diagonal move's and is not used. xp: numpy or jax.numpy."""
    i = xp.minimum((u[..., 0] * 2 * n).astype(xp.int32), 2 * n - 1)
    j = (i + 1 + xp.minimum((u[..., 1] * (2 * n - 1)).astype(xp.int32), 2 * n - 2)) % (2 * n)
    s = xp.minimum((u[..., 2] * n).astype(xp.int32), n - 1)
    eye = xp.eye(2 * n, dtype=xp.int8)
    return xp.where((kind == 0)[..., None], eye[i], xp.where((kind == 1)[..., None], eye[i] + eye[j],
                                                             eye[s] + eye[s + n]))


@dataclass
class SampleBatch:
    x: object  # (C, S, 2, N) int8: chains x samples per chain
    log_rho: object  # (C, S) complex log rho of the samples
    acceptance: float
    proposed: np.ndarray | None = None  # (4,) moves proposed of each kind in MOVES (None: not a Markov chain)
    accepted: np.ndarray | None = None  # (4,) of them accepted

    @property
    def acceptance_by_move(self) -> dict:
        """Acceptance of each move kind that was proposed at all."""
        if self.proposed is None:
            return {}
        return {m: float(a / p) for m, p, a in zip(MOVES, self.proposed, self.accepted) if p > 0}

    @property
    def flip_acceptance(self) -> float:
        """Acceptance of the moves that flip bits (all but the ket-bra swap); nan without a chain or flips."""
        if self.proposed is None:
            return float("nan")
        p = int(sum(self.proposed[i] for i in FLIPS))
        return float(sum(self.accepted[i] for i in FLIPS) / p) if p else float("nan")


class MetropolisSampler:
    """Metropolis chains for p ~ exp(power * Re log_rho(params, x)).

    kind 'doubled' (power = 2 beta) or 'diagonal' (power = 1, configurations with ket = bra)."""

    def __init__(self, log_rho, n_sites: int, n_chains: int, kind: str = "doubled", power: float = 2.0,
                 sector: bool = False, sweep: int | None = None):
        if kind not in ("doubled", "diagonal"):
            raise ValueError(f"sampler kind must be doubled or diagonal, got {kind!r}")
        self.log_rho, self.n, self.n_chains, self.kind = log_rho, n_sites, n_chains, kind
        self.power, self.sector = float(power), bool(sector)
        self.probs = move_probs(kind, sector)
        self.sweep = int(sweep) if sweep else (2 * n_sites if kind == "doubled" else n_sites)
        import jax

        self._run = jax.jit(self._run_impl, static_argnums=(3,))  # (params, x, key, n_per_chain)

    def init_state(self, key):
        """Random ket, bra = ket: inside the Z-parity sector and on the diagonal."""
        import jax
        import jax.numpy as jnp

        ket = jax.random.bernoulli(key, 0.5, (self.n_chains, self.n)).astype(jnp.int8)
        return jnp.stack([ket, ket], axis=1)

    def _kind(self, u0):
        """The move kind (index into MOVES) that uniforms u0 select."""
        import jax.numpy as jnp

        cum = jnp.asarray(np.cumsum(self.probs)[:-1], u0.dtype)
        return jnp.sum(u0[..., None] >= cum, axis=-1)

    def _propose(self, u, x):
        """u: (C, 4) uniforms -> (proposed configurations, move kind per chain, index into MOVES); one random
        draw per sweep keeps compiles small."""
        import jax.numpy as jnp

        C, n = self.n_chains, self.n
        kind = self._kind(u[:, 0])
        flat = x.reshape(C, 2 * n) ^ flip_mask(kind, u[:, 1:4], n, jnp)
        return jnp.where((kind == 3)[:, None, None], x[:, ::-1, :], flat.reshape(C, 2, n)), kind

    def _run_impl(self, params, x, key, n_per_chain: int):
        import jax
        import jax.numpy as jnp

        lr = self.log_rho(params, x)

        def step(carry, u):
            x, lr = carry
            xn, _ = self._propose(u[:, :4], x)
            lrn = self.log_rho(params, xn)
            logr = self.power * (lrn.real - lr.real)
            ok = jnp.log(u[:, 4]) < logr
            x = jnp.where(ok[:, None, None], xn, x)
            lr = jnp.where(ok, lrn, lr)
            return (x, lr), ok

        moves = jnp.arange(len(MOVES))

        def sweep(carry, key):
            x, lr, prop, acc = carry
            u = jax.random.uniform(key, (self.sweep, self.n_chains, 5), minval=1e-12)
            (x, lr), ok = jax.lax.scan(step, (x, lr), u)
            # the moves of the sweep counted per kind once, outside the steps: (sweep, C, 4)
            hit = self._kind(u[..., 0])[..., None] == moves
            prop = prop + hit.sum((0, 1), dtype=jnp.int32)
            acc = acc + (hit & ok[..., None]).sum((0, 1), dtype=jnp.int32)
            return (x, lr, prop, acc), (x, lr)

        zeros = jnp.zeros(len(MOVES), jnp.int32)
        carry = (x, lr, zeros, zeros)
        carry, (xs, lrs) = jax.lax.scan(sweep, carry, jax.random.split(key, n_per_chain))
        return carry[0], jnp.swapaxes(xs, 0, 1), jnp.swapaxes(lrs, 0, 1), carry[2], carry[3]

    def sample(self, params, x, key, n_per_chain: int, n_discard: int = 0):
        """Returns (final chain state, SampleBatch)."""
        import jax

        n_per_chain = int(n_per_chain)
        for i in range(-(-int(n_discard) // n_per_chain)):  # burn-in: the same compiled call, output dropped
            key, kd = jax.random.split(key)
            x = self._run(params, x, kd, n_per_chain)[0]
        xf, xs, lrs, prop, acc = self._run(params, x, key, n_per_chain)
        prop, acc = (np.asarray(a, np.int64) for a in jax.device_get((prop, acc)))  # one transfer
        return xf, SampleBatch(xs, lrs, float(acc.sum() / prop.sum()), prop, acc)


def enumerate_configs(n: int, kind: str = "doubled", sector: bool = False) -> np.ndarray:
    """All doubled configurations (in the parity sector if asked), or all diagonal ones (ket = bra)."""
    if kind == "diagonal":
        from .configs import int_to_bits

        k = int_to_bits(np.arange(2**n), n)
        return np.stack([k, k], axis=1)
    X = all_doubled(n)
    return X[in_parity_sector(X)] if sector else X


class ExactSampler:
    """Independent draws from the exact distribution p ~ exp(power Re log_rho) over all configurations."""

    def __init__(self, log_rho, n_sites: int, n_chains: int, kind: str = "doubled", power: float = 2.0,
                 sector: bool = False):
        import jax
        import jax.numpy as jnp

        if n_sites > 7:
            raise ValueError("the exact sampler enumerates 4^N configurations; use it for N <= 7")
        self.log_rho, self.n, self.n_chains, self.kind, self.power = log_rho, n_sites, n_chains, kind, float(power)
        self.all = jnp.asarray(enumerate_configs(n_sites, kind, sector))

        def run(params, key, n_per_chain):
            lr = self.log_rho(params, self.all)
            idx = jax.random.categorical(key, self.power * lr.real, shape=(self.n_chains, n_per_chain))
            return self.all[idx], lr[idx]

        self._run = jax.jit(run, static_argnums=(2,))

    def init_state(self, key):
        return None

    def sample(self, params, x, key, n_per_chain: int, n_discard: int = 0):
        xs, lrs = self._run(params, key, int(n_per_chain))
        return x, SampleBatch(xs, lrs, 1.0)


# --- diagnostics ------------------------------------------------------------------------------------
def element_weights(x, weights=None) -> np.ndarray:
    """The total weight (default: the count) of each element of rho among doubled samples x (..., 2, N), up to
    the ket-bra swap ((s, s') and (s', s) are one element), largest first."""
    x = np.asarray(x).reshape(-1, 2, np.shape(x)[-1]).astype(np.uint8)
    k, b = np.packbits(x[:, 0], axis=-1), np.packbits(x[:, 1], axis=-1)
    rows = np.arange(len(k))
    first = np.argmax(k != b, axis=1)  # the first differing byte decides which half is the smaller
    ket_first = (k[rows, first] <= b[rows, first])[:, None]
    key = np.concatenate([np.where(ket_first, k, b), np.where(ket_first, b, k)], axis=1)
    _, inv = np.unique(key, axis=0, return_inverse=True)
    w = np.ones(len(k)) if weights is None else np.asarray(weights, float).reshape(-1)
    return np.sort(np.bincount(inv.reshape(-1), weights=w))[::-1]


def l2_weights(log_rho_real, power: float) -> np.ndarray:
    """Normalised importance weights |rho|^(2 - power) that take samples drawn from |rho|^power to |rho|^2."""
    lw = (2.0 - power) * np.asarray(log_rho_real, float).reshape(-1)
    w = np.exp(lw - lw.max())
    return w / w.sum()


def flip_probes(x, probs, n_probe: int, seed: int = 0) -> np.ndarray:
    """n_probe flip moves from each doubled sample x (B, 2, N), drawn as MetropolisSampler proposes them with
    move probabilities `probs` (the swap left out): (B * n_probe, 2, N), the probes of sample b at b * n_probe..."""
    x = np.asarray(x).reshape(-1, 2, np.shape(x)[-1]).astype(np.int8)
    B, n = x.shape[0], x.shape[-1]
    p = np.asarray(probs, float)[list(FLIPS)]
    rng = np.random.default_rng(seed)
    kind = np.asarray(FLIPS)[rng.choice(len(FLIPS), size=(B, n_probe), p=p / p.sum())]
    mask = flip_mask(kind, rng.random((B, n_probe, 3)), n)
    return (x.reshape(B, 1, 2 * n) ^ mask).reshape(-1, 2, n)


def l2_flip_acceptance(log_rho, params, x, log_rho_x, power: float, probs, n_probe: int = 4, seed: int = 0,
                       chunk: int | None = None) -> float:
    """The acceptance the sampler's flip moves would have on |rho|^2 itself, estimated from samples x (B, 2, N)
    drawn from |rho|^power with log rho log_rho_x (B,): n_probe flips proposed from each sample, their Metropolis
    acceptance min(1, |rho(y) / rho(x)|^2), averaged with the weights |rho(x)|^(2 - power).

    It measures how sharply |rho|^2 is peaked around the samples, whatever beta the chains ran at, and with a
    resolution far below one sample: every probe contributes its ratio, not a count. The quick Fig. 8 x-basis CNN
    collapsed onto one element has 5e-6 to 1e-5 (its neighbours' |rho|^2 are 1e-5 to 1e-7 of the element's) at
    beta = 0.5; the nearly pure 6-spin TFI steady state at g = 0.5 (84 % of |rho|^2 on one element) 0.03 at beta
    = 1 and at beta = 0.5 alike.

    chunk: evaluate log_rho in pieces of this size (the last padded), a shape it is compiled for already."""
    import jax
    import jax.numpy as jnp

    y = flip_probes(x, probs, n_probe, seed)
    size = chunk or len(y)
    pad = (-len(y)) % size
    yp = np.concatenate([y, np.repeat(y[:1], pad, axis=0)]) if pad else y
    lr_y = np.concatenate([np.asarray(jax.device_get(log_rho(params, jnp.asarray(yp[i:i + size])))).real
                           for i in range(0, len(yp), size)])[:len(y)]
    lr_x = np.asarray(log_rho_x).real.reshape(-1)
    lr_y = lr_y.reshape(len(lr_x), n_probe)
    a = np.exp(np.minimum(0.0, 2.0 * (lr_y - lr_x[:, None])))
    return float(l2_weights(lr_x, power) @ a.mean(axis=1))


def split_rhat(trace: np.ndarray) -> float:
    """Split-R-hat (Gelman et al.) of a scalar trace of shape (chains, samples); ~1 when mixed."""
    trace = np.asarray(trace, float)
    C, S = trace.shape
    h = S // 2
    if h < 2:
        return float("nan")
    chains = np.concatenate([trace[:, :h], trace[:, h:2 * h]], axis=0)
    W = chains.var(axis=1, ddof=1).mean()
    B = h * chains.mean(axis=1).var(ddof=1)
    if W <= 0:
        return float("nan") if B > 0 else 1.0
    var = (h - 1) / h * W + B / h
    return float(np.sqrt(var / W))


def autocorr_time(trace: np.ndarray, c: float = 5.0) -> float:
    """Integrated autocorrelation time (in samples) of a (chains, samples) trace, chain-averaged
    autocorrelation with Sokal's automatic window."""
    x = np.asarray(trace, float)
    C, S = x.shape
    if S < 4:
        return float("nan")
    x = x - x.mean(axis=1, keepdims=True)
    f = np.fft.rfft(x, n=2 * S, axis=1)
    acf = np.fft.irfft(f * np.conj(f), axis=1)[:, :S].mean(axis=0)
    if acf[0] <= 0:
        return 1.0
    acf = acf / acf[0]
    taus = 2.0 * np.cumsum(acf) - 1.0
    window = np.arange(S) < c * taus
    m = int(np.argmin(window)) if not window.all() else S - 1
    return float(max(taus[m], 1.0))
