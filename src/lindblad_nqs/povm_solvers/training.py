"""Training loops of luo2022 on an autoregressive POVM model: the L1 steady state (Adam on Eq. 5) and
the forward-backward trapezoid dynamics (Adam on Eq. 4 at every time step, warm-started)."""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from ..divergence import NonFiniteStreak
from ..model import SpinSystem
from ..observables import Observable
from ..povm import POVMLindbladian, estimate, get_povm
from ..povm.observables import pauli_string_samples
from .costs import (ConnectedBatch, batch_log_prob, evaluates_from_parents, l1_cost, log_prob_chunked, prepare,
                    shares_prefixes, trapezoid_cost)


@dataclass(frozen=True)
class NetConfig:
    n_layers: int = 1
    d_model: int = 32
    n_heads: int = 1
    d_ff: int = 0  # 0: the network's default (2 d_model)
    strings: str = "0s"
    dtype: str = "float32"

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def torch_dtype(name: str):
    return {"float32": torch.float32, "float64": torch.float64}[name]


def build_model(system: SpinSystem, cfg: NetConfig, site_probs, device="cpu"):
    """A Transformer (string 0, the row-major order) or String States over several orderings."""
    from ..nets.strings import StringStates, parse_strings
    from ..nets.transformer import Transformer

    kw = dict(n_layers=cfg.n_layers, d_model=cfg.d_model, n_heads=cfg.n_heads, site_probs=site_probs,
              d_ff=cfg.d_ff or None, dtype=torch_dtype(cfg.dtype), device=device)
    if parse_strings(cfg.strings) == (0,):
        return Transformer(system.n_sites, **kw)
    return StringStates(system.lattice, cfg.strings, **kw)


class POVMTrainer:
    """A model, the POVM Lindbladian of the system, and a random generator for exact sampling."""

    def __init__(self, system: SpinSystem, povm: str, model, seed: int, device="cpu", chunk: int = 65536,
                 prefix: bool = True):
        self.system = system
        self.povm = get_povm(povm)
        self.lind = POVMLindbladian(system, self.povm)
        self.model = model
        self.device = torch.device(device)
        self.gen = torch.Generator(device=self.device).manual_seed(int(seed))
        self.chunk = chunk
        self.prefix = prefix  # False: every connected string through the full pass (the same values, slower)
        self.dtype = next(model.parameters()).dtype
        self.streak = NonFiniteStreak()  # non-finite costs in a row, over both costs' iterations

    def _finite(self, value: float) -> bool:
        """Whether a cost and the gradient it left on the parameters are finite (one host sync)."""
        grads = [q.grad.reshape(-1) for q in self.model.parameters() if q.grad is not None]
        return math.isfinite(value) and (not grads or bool(torch.isfinite(torch.cat(grads)).all()))

    def prepare(self, a, weights=None) -> ConnectedBatch:
        return prepare(self.lind, a, weights, device=self.device, dtype=self.dtype,
                       parents=self.prefix and evaluates_from_parents(self.model))

    # --- sampling and observables -------------------------------------------------------------------
    def sample(self, n: int) -> torch.Tensor:
        self.model.eval()
        return self.model.sample(n, self.gen)

    def magnetisations(self, a: torch.Tensor) -> dict[str, float]:
        """Site-averaged <sx>, <sy>, <sz> from samples (cheap tracking for histories)."""
        a = a.cpu().numpy()
        n = a.shape[1]
        return {f"s{p}": float(np.mean([pauli_string_samples(self.povm, a, {i: p}).mean() for i in range(n)]))
                for p in "xyz"}

    def observables(self, observables: list[Observable], n_samples: int) -> list[tuple[str, float, float]]:
        a = self.sample(n_samples).cpu().numpy()
        return [(o.name, *estimate(self.povm, o, a)) for o in observables]

    # --- exact enumeration over all 4^N strings (tiny systems) -----------------------------------------
    MAX_EXACT_SITES = 8

    def _all_strings(self) -> torch.Tensor:
        if getattr(self, "_all", None) is None:
            from ..povm.lindbladian import all_strings

            if self.system.n_sites > self.MAX_EXACT_SITES:
                raise ValueError(f"exact sums over 4^N strings need N <= {self.MAX_EXACT_SITES}, "
                                 f"got N = {self.system.n_sites}")
            self._all = torch.as_tensor(all_strings(self.system.n_sites), device=self.device)
            self._all_batch = self.prepare(self._all, weights=np.ones(len(self._all)))
        return self._all

    def exact_probabilities(self) -> torch.Tensor:
        """p(a) of the model on all 4^N strings, in the order of povm.lindbladian.all_strings."""
        self.model.eval()
        return log_prob_chunked(self.model, self._all_strings(), self.chunk).exp()

    def exact_batch(self) -> ConnectedBatch:
        """The connected elements of all 4^N strings with weights p(a): the costs become exact sums."""
        p = self.exact_probabilities()
        return dataclasses.replace(self._all_batch, weights=p.to(self.dtype), sampled=False)

    def exact_magnetisations(self) -> dict[str, float]:
        a, p = self._all_strings().cpu().numpy(), self.exact_probabilities().double().cpu().numpy()
        n = a.shape[1]
        return {f"s{c}": float(np.mean([p @ pauli_string_samples(self.povm, a, {i: c}) for i in range(n)]))
                for c in "xyz"}

    def exact_observables(self, observables: list[Observable]) -> list[tuple[str, float, float]]:
        a, p = self._all_strings().cpu().numpy(), self.exact_probabilities().double().cpu().numpy()
        return [(o.name, *estimate(self.povm, o, a, weights=p)) for o in observables]

    # --- the two costs ------------------------------------------------------------------------------
    def steady_iteration(self, opt, n_samples: int, exact_sum: bool = False, where: str = "") -> dict | None:
        """One Adam step on the L1 cost; None when the cost or its gradient is not finite, the step is not
        taken (the parameters stay the last finite ones) and `self.streak` counts it (divergence rule)."""
        if exact_sum:
            a, batch = self._all_strings(), self.exact_batch()
        else:
            a = self.sample(n_samples)
            batch = self.prepare(a)
        self.model.train()
        opt.zero_grad(set_to_none=True)
        res = l1_cost(self.model, batch, backward=True, chunk=self.chunk)
        if not self.streak.check(self._finite(res.value), where or "a steady iteration"):
            opt.zero_grad(set_to_none=True)
            return None
        opt.step()
        mags = self.exact_magnetisations() if exact_sum else self.magnetisations(a)
        return {"cost": res.value, "cost_stderr": res.stderr, "unique_a": batch.n_a,
                "unique_b": len(batch.strings), **mags}

    def trapezoid_step(self, tau: float, n_samples: int, lr: float, tol: float, max_iter: int,
                       min_iter: int = 1, extrapolate_from=None, lr_final: float | None = None,
                       exact_sum: bool = False, window: int = 0, noise: float = 1.0, where: str = "") -> dict:
        """One time step 2 tau: minimise Eq. 4 over the model, compared with the current distribution,
        with a fresh Adam each step, until `inner_stop_reason` says stop (tol met, the cost at its Monte
        Carlo noise floor when window > 0, or max_iter iterations).

        The model starts from the current parameters (warm start), or, with `extrapolate_from` (the
        parameters one step earlier), from their linear extrapolation. With `lr_final` the learning
        rate decays exponentially from lr (first iteration) to lr_final (iteration max_iter).
        With `exact_sum` the cost is the exact sum over all 4^N strings (weights p(a)) instead of a
        Monte Carlo estimate (tiny systems: diagnostics and tests).
        Returns the step record: iterations used, why the loop stopped, the cost of the first iteration
        (about 2 tau ||L p||_1 without extrapolation) and the mean of the last three, and whether `tol` was met.
        An inner iteration whose cost or gradient is not finite takes no step and counts towards the
        divergence rule (`self.streak`); the stopping rules see only the finite costs."""
        old = copy.deepcopy(self.model).eval()
        for p in old.parameters():
            p.requires_grad_(False)
        if extrapolate_from is not None:
            with torch.no_grad():
                for q, q_prev in zip(self.model.parameters(), extrapolate_from):
                    q.add_(q - q_prev.to(q))
        cache = _LogProbCache(old, self.chunk)
        opt = torch.optim.Adam(self.model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)
        costs: list[float] = []
        stderrs: list[float] = []
        reason = "max_iter"
        it = 0
        a = res = None
        for it in range(1, max_iter + 1):
            if lr_final is not None:
                for g in opt.param_groups:
                    g["lr"] = lr_at(it - 1, max_iter, lr, lr_final)
            if exact_sum:
                a = self._all_strings()
                batch = self.exact_batch()
            else:
                a = self.sample(n_samples)
                batch = self.prepare(a)
            old_lp = cache(batch)
            self.model.train()
            opt.zero_grad(set_to_none=True)
            res = trapezoid_cost(self.model, old_lp, batch, tau, backward=True, chunk=self.chunk)
            if not self.streak.check(self._finite(res.value), f"{where + ', ' if where else ''}inner iteration {it}"):
                opt.zero_grad(set_to_none=True)
                continue
            costs.append(res.value)
            stderrs.append(res.stderr)
            stop = inner_stop_reason(costs, stderrs, 2 * tau, tol, max_iter, min_iter, window, noise)
            if stop is not None:
                reason = stop
                if stop != "max_iter":
                    break  # the cost is measured at the parameters before this iteration's update
            opt.step()
        mags = self.exact_magnetisations() if exact_sum else self.magnetisations(a)
        if not costs:  # every inner iteration non-finite, fewer than the divergence rule's limit
            costs, stderrs = [math.nan], [math.nan]
        return {"inner_iterations": it, "stop_reason": reason, "cost_start": costs[0],
                "cost": float(np.mean(costs[-3:])), "cost_stderr": stderrs[-1], "converged": reason == "tol",
                **mags}


STOP_REASONS = ("tol", "noise_floor", "max_iter")


def inner_stop_reason(costs, stderrs, two_tau: float, tol: float, max_iter: int, min_iter: int = 1,
                      window: int = 0, noise: float = 1.0) -> str | None:
    """Why the inner loop of a trapezoid step stops after the iterations whose Monte Carlo costs (and
    standard errors) are `costs` (`stderrs`), or None to go on:

    - "tol": the mean cost of the last three iterations, divided by 2 tau (an L1 residual of dp/dt per
      unit time), is below `tol`;
    - "noise_floor" (window > 0): the mean cost of the last `window` iterations lies less than `noise`
      times the cost's own Monte Carlo standard error (the root mean square of the estimates' stderr over
      both windows) below the mean of the `window` iterations before them: over a whole window the
      optimiser no longer improves the cost by more than one estimate of it can resolve;
    - "max_iter": the budget is spent.

    No rule but max_iter fires before `min_iter` iterations."""
    n = len(costs)
    if n >= max(min_iter, 1):
        if np.mean(costs[-3:]) < tol * two_tau:
            return "tol"
        if window > 0 and n >= 2 * window:
            before, last = np.asarray(costs[-2 * window:-window]), np.asarray(costs[-window:])
            se = math.sqrt(np.mean(np.square(stderrs[-2 * window:])))
            if before.mean() - last.mean() <= noise * se:
                return "noise_floor"
    return "max_iter" if n >= max_iter else None


class _LogProbCache:
    """log p of a fixed model on strings, remembered across the inner iterations of a time step
    (strings packed in one key word; longer strings are evaluated every time)."""

    def __init__(self, model, chunk):
        self.model, self.chunk = model, chunk
        self.keys = None  # sorted (K,) keys of the strings seen so far
        self.values = None

    def __call__(self, batch: ConnectedBatch) -> torch.Tensor:
        if batch.keys.shape[1] > 1:
            return batch_log_prob(self.model, batch, self.chunk)
        keys = batch.keys[:, 0]
        if self.keys is None:
            found = torch.zeros(len(keys), dtype=torch.bool, device=keys.device)
        else:
            pos = torch.searchsorted(self.keys, keys)
            found = self.keys[pos.clamp(max=len(self.keys) - 1)] == keys
        if not found.all():
            miss = torch.nonzero(~found).ravel()
            if 2 * len(miss) > len(keys) and shares_prefixes(self.model, batch):
                # mostly new strings: the whole batch from its samples' prefixes costs less than the
                # full pass over the new ones alone (benchmarks/bench_povm_step.py)
                lp_new = batch_log_prob(self.model, batch, self.chunk)[miss]
            else:
                lp_new = log_prob_chunked(self.model, batch.strings[miss], self.chunk)
            allk = keys[miss] if self.keys is None else torch.cat([self.keys, keys[miss]])
            allv = lp_new if self.values is None else torch.cat([self.values, lp_new])
            order = torch.argsort(allk)  # the keys are distinct
            self.keys, self.values = allk[order], allv[order]
            pos = torch.searchsorted(self.keys, keys)
        return self.values[pos]


def make_adam(model, lr: float):
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)


def lr_at(iteration: int, n_iter: int, lr: float, lr_final: float) -> float:
    """Exponential interpolation from lr (first iteration) to lr_final (last)."""
    if n_iter <= 1 or lr_final == lr:
        return lr
    return lr * math.exp(math.log(lr_final / lr) * iteration / (n_iter - 1))
