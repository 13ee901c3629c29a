"""Monte Carlo costs of luo2022 and their gradients, for any model with an exact, differentiable
``log_prob(a: LongTensor[B, N]) -> Tensor[B]``.

Both costs are sums over sampled strings a of |R(a)| / p(a), with R linear in probabilities:

    steady (Eq. 5):      R(a) = sum_b p_theta(b) L_a^b
    trapezoid (Eq. 4):   R(a) = sum_b [p_theta(b) (delta_ab - tau L_a^b) - p_old(b) (delta_ab + tau L_a^b)]

The sampling weight 1/p(a) is held fixed when differentiating (Eq. S20/S22): the estimator
(1/N_s) sum_{a~p} |R(a)| / p(a) is an unbiased estimate of sum_a |R(a)|, and so is its gradient
(1/N_s) sum_{a~p} sign R(a) sum_b c_ab dp(b)/dtheta / p(a), with c_ab the coefficient of p_theta(b)
in R(a). Differentiating through the denominator as well would add -|R(a)| dlog p(a)/dtheta, whose
sample mean is not zero: a biased gradient.

The gradient is computed as that of the surrogate sum_b k_b log p_theta(b), with
k_b = sum_a w_a sign R(a) c_ab p(b) / p(a) held fixed. It is linear in log p(b), so the connected strings
are evaluated in chunks of bounded memory, and each distinct string b is evaluated once per batch
(samples and connected strings are deduplicated).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..operators.torch_apply import torch_table
from ..povm.lindbladian import POVMLindbladian


@dataclass
class ConnectedBatch:
    """Distinct sampled strings a with weights, the distinct connected strings b, and the nonzero
    entries (row into a, column into b, L_a^b)."""

    strings: torch.Tensor  # (U_b, N) long: every distinct b; the sampled a are among them
    a_index: torch.Tensor  # (U_a,) position of each distinct a in `strings`
    weights: torch.Tensor  # (U_a,) sample weights (counts / N_s, or exact p(a) when enumerating)
    rows: torch.Tensor  # (M,) index into a
    cols: torch.Tensor  # (M,) index into strings
    mel: torch.Tensor  # (M,) L_a^b
    n_samples: int
    sampled: bool = True  # False: weights are exact probabilities of an enumeration
    parent: torch.Tensor | None = None  # (U_b,) a distinct a (index into a_index) connected to each b
    first: torch.Tensor | None = None  # (U_b,) first site where b differs from that a (N: b is that a)
    keys: torch.Tensor | None = None  # (U_b, W) packed keys of `strings` (operators.torch_apply)

    @property
    def n_a(self) -> int:
        return len(self.a_index)


def _unique_rows(keys: torch.Tensor):
    """Distinct rows of (B, W) int64 keys in lexicographic order, the inverse map and the counts."""
    if keys.shape[1] == 1:
        u, inv, cnt = torch.unique(keys[:, 0], sorted=True, return_inverse=True, return_counts=True)
        return u[:, None], inv, cnt
    # several key words: stable sorts from the last word to the first (a lexsort; torch.unique(dim=0)
    # is several times slower)
    order = torch.argsort(keys[:, -1], stable=True)
    for w in range(keys.shape[1] - 2, -1, -1):
        order = order[torch.argsort(keys[order, w], stable=True)]
    sk = keys[order]
    new = torch.ones(len(sk), dtype=torch.bool, device=keys.device)
    new[1:] = torch.any(sk[1:] != sk[:-1], dim=1)
    inv = torch.empty_like(order)
    inv[order] = torch.cumsum(new, 0) - 1
    starts = torch.nonzero(new).ravel()
    cnt = torch.diff(starts, append=starts.new_tensor([len(sk)]))
    return sk[starts], inv, cnt


def prepare(lind: POVMLindbladian, a, weights=None, device="cpu", dtype=torch.float32,
            parents: bool = True) -> ConnectedBatch:
    """Connected elements of a batch of strings a (B, N). Without weights the a are samples (duplicates
    merged into counts); with weights they are distinct strings with the given weights. Everything runs
    in torch on ``device``: on a GPU no string crosses the bus. ``parents=False`` skips what only the
    prefix evaluation of a plain Transformer reads (``ConnectedBatch.parent``, ``first``)."""
    a = torch.as_tensor(a, dtype=torch.long, device=device)
    op = torch_table(lind.table, a.device)
    n_samples = a.shape[0]
    keys_a = op.keys(a)
    if weights is None:
        ukeys, _, counts = _unique_rows(keys_a)
        w = counts.to(dtype) / n_samples
        ua = op.decode(ukeys)
    else:
        ua, ukeys = a, keys_a
        w = torch.as_tensor(weights, device=device).detach().to(dtype)
    rows, keys_b, mel = op.connected_flat(ua)
    ub, inv, _ = _unique_rows(torch.cat([ukeys, keys_b]))
    n_a = len(ukeys)
    a_index, cols = inv[:n_a], inv[n_a:]
    parent = first = None
    if parents:
        # each b with the a it is connected to that shares the longest prefix with it (the lowest such
        # a on ties: deterministic), and the site where they part; the strings are then put in the order
        # of that site, so that a chunk of them falls into few groups of equal suffix length
        score = op.first_difference(keys_b, ukeys[rows]) * n_a + rows
        best = torch.full((len(ub),), -1, dtype=torch.long, device=a.device)
        best.scatter_reduce_(0, cols, score, "amax")
        best[a_index] = lind.n * n_a + torch.arange(n_a, device=a.device)
        parent, first = best % n_a, best // n_a
        order = torch.argsort(first, stable=True)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(len(order), device=a.device)
        ub, parent, first, a_index, cols = ub[order], parent[order], first[order], inverse[a_index], inverse[cols]
    return ConnectedBatch(op.decode(ub), a_index, w, rows, cols, mel.to(dtype), n_samples, weights is None,
                          parent, first, ub)


def log_prob_chunked(model, strings: torch.Tensor, chunk: int, grad: bool = False) -> torch.Tensor:
    with torch.set_grad_enabled(grad):
        if len(strings) <= chunk:
            return model.log_prob(strings)
        return torch.cat([model.log_prob(strings[i:i + chunk]) for i in range(0, len(strings), chunk)])


def evaluates_from_parents(model) -> bool:
    """Whether the model can evaluate connected strings from their parent's prefix (prepare() then
    gives parents)."""
    return hasattr(model, "log_prob_from_parents")


def shares_prefixes(model, batch: ConnectedBatch) -> bool:
    return evaluates_from_parents(model) and batch.parent is not None


def _from_parents(model, batch: ConnectedBatch, pp, start: int, stop: int) -> torch.Tensor:
    return model.log_prob_from_parents(batch.strings[start:stop], batch.parent[start:stop],
                                       batch.first[start:stop], pp)


def batch_log_prob(model, batch: ConnectedBatch, chunk: int, grad: bool = False) -> torch.Tensor:
    """log p of every distinct string of the batch. A plain Transformer evaluates each connected string
    only after the site where it leaves its sample (``Transformer.log_prob_from_parents``); other
    models (String States) run the full pass, in chunks of ``chunk`` strings either way."""
    if not shares_prefixes(model, batch):
        return log_prob_chunked(model, batch.strings, chunk, grad)
    with torch.set_grad_enabled(grad):
        pp = model.parent_pass(batch.strings[batch.a_index])
        n = len(batch.strings)
        return torch.cat([_from_parents(model, batch, pp, i, min(i + chunk, n)) for i in range(0, n, chunk)])


def _backward_chunked(model, batch: ConnectedBatch, k: torch.Tensor, chunk: int) -> None:
    """Accumulate the gradient of sum_b k_b log p(b) chunk by chunk (bounded memory)."""
    n = len(batch.strings)
    if not shares_prefixes(model, batch):
        for i in range(0, n, chunk):
            (k[i:i + chunk] * model.log_prob(batch.strings[i:i + chunk])).sum().backward()
        return
    # The chunks share the samples' pass: collect the gradient at its outputs over all chunks, then
    # backpropagate through it once.
    pp = model.parent_pass(batch.strings[batch.a_index])
    outs = [pp.lc, pp.prefix, *pp.ks, *pp.vs]
    leaves = [o.detach().requires_grad_() for o in outs]
    nl = len(pp.ks)
    detached = type(pp)(leaves[0], leaves[1], leaves[2:2 + nl], leaves[2 + nl:])
    for i in range(0, n, chunk):
        (k[i:i + chunk] * _from_parents(model, batch, detached, i, min(i + chunk, n))).sum().backward()
    grads = [leaf.grad if leaf.grad is not None else torch.zeros_like(leaf) for leaf in leaves]
    torch.autograd.backward(outs, grads)


@dataclass
class CostResult:
    value: float  # the Monte Carlo estimate of the cost
    stderr: float  # its standard error (0 for exact weights)
    residual: torch.Tensor  # R(a) / p(a) per distinct a


def _finish(batch: ConnectedBatch, r: torch.Tensor) -> tuple[float, float]:
    w = batch.weights
    absr = r.abs()
    value = float((w * absr).sum())
    var = float((w * (absr - value) ** 2).sum())
    n = batch.n_samples
    return value, (float(np.sqrt(var / (n - 1))) if batch.sampled and n > 1 else 0.0)


def l1_cost(model, batch: ConnectedBatch, backward: bool = True, chunk: int = 65536) -> CostResult:
    """The steady-state cost sum_a w_a |sum_b p(b) L_a^b| / p(a) (Eq. 5); with backward=True the
    gradient of Eq. S22 is accumulated into the parameters' .grad."""
    return _cost(model, batch, None, 0.0, backward, chunk)


def trapezoid_cost(model, old_log_prob, batch: ConnectedBatch, tau: float, backward: bool = True,
                   chunk: int = 65536) -> CostResult:
    """The forward-backward trapezoid cost (Eq. 4) between the model (time t + 2 tau) and the old
    distribution, given as log p_old on batch.strings (no gradient)."""
    return _cost(model, batch, old_log_prob, tau, backward, chunk)


def _cost(model, batch: ConnectedBatch, old_lp, tau: float, backward: bool, chunk: int) -> CostResult:
    single = backward and len(batch.strings) <= chunk
    lp = batch_log_prob(model, batch, chunk, grad=single)
    lp_d = lp.detach()
    lpa = lp_d[batch.a_index]  # log p(a), the fixed sampling weight
    rows, cols = batch.rows, batch.cols
    ratio = torch.exp(lp_d[cols] - lpa[rows])  # p(b) / p(a)
    if old_lp is None:
        coef = batch.mel  # c_ab
        r = torch.zeros(batch.n_a, dtype=lp_d.dtype, device=lp_d.device).index_add_(0, rows, coef * ratio)
    else:
        old_lp = old_lp.to(lp_d)
        ratio_old = torch.exp(old_lp[cols] - lpa[rows])
        coef = -tau * batch.mel
        r = torch.zeros(batch.n_a, dtype=lp_d.dtype, device=lp_d.device)
        r.index_add_(0, rows, coef * (ratio + ratio_old))
        r += 1.0 - torch.exp(old_lp[batch.a_index] - lpa)  # delta terms: p(a)/p(a) - p_old(a)/p(a)
    value, err = _finish(batch, r)
    if backward:
        sgn = torch.sign(r) * batch.weights  # w_a sign R(a)
        k = torch.zeros(len(batch.strings), dtype=lp_d.dtype, device=lp_d.device)
        k.index_add_(0, cols, sgn[rows] * coef * ratio)  # sum_a w_a sign_a c_ab p(b)/p(a)
        if old_lp is not None:
            k.index_add_(0, batch.a_index, sgn)  # delta_ab: p(a)/p(a) = 1
        if single:
            (k * lp).sum().backward()
        else:
            _backward_chunked(model, batch, k, chunk)
    return CostResult(value, err, r)
