"""The fit-to-exact floor of a network: the best observable error its ansatz reaches at all.

A neural steady state that ends far from exact may be limited by its sampling, its optimiser or its
ansatz. The floor removes the first two: the network of a run spec is fitted directly to the exact
steady state of the spec's system, with every configuration enumerated, and the observables of the fit
are computed exactly. What is left of the error is the ansatz's (up to how well the fit converged:
the floor is an upper bound of the network's best error).

- density-matrix networks (cnn, rbm_ndo): the Hilbert-Schmidt infidelity
  1 - |<rho_theta, rho>|^2 / (||rho_theta||^2 ||rho||^2) over every doubled configuration (in the
  Z-parity sector where the model conserves it, and in the basis the run trains in), blind to scale
  and global phase; the fit's observables from its dense, trace-normalised rho;
- POVM networks (transformer): the Kullback-Leibler divergence KL(P || p_theta) of the exact POVM
  distribution P(a) = Tr(M_a rho) over all 4^N strings; the fit's observables as exact sums.

The loss is deterministic, so the default (optimizer auto) is L-BFGS for the density-matrix networks
(after `warmup` Adam steps, stopped when `window` iterations lower the loss by less than `tol` of
itself) and, for the transformer, where L-BFGS ended above Adam on the quick floors, `steps` Adam steps
on a KL read from a quarter of the tokens (all_log_probs), kept at the best point passed. optimizer
adam is the fit of before (`steps` Adam steps); lbfgs is L-BFGS for every network.

    lindblad-nqs floor SPEC.yaml --out FLOOR.csv [--optimizer auto --steps 1000 --tol 1e-2 ...]

writes one row per observable (observable, fit, exact, abs_error) and FLOOR.json beside it (the loss
reached, the fit's trace distance to the exact rho, parameter count, the optimiser's settings, its
iterations, evaluations and why it stopped, wall time).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .budget import (DM_METHODS, FLOOR_DEFAULTS, MAX_CONFIGS, METHODS, FloorError, floor_settings_problem,
                     n_configurations, network_id)


def exact_rho(system) -> np.ndarray:
    from .exact.steady import solve_sector

    try:
        return solve_sector(system).rho
    except ValueError as e:  # too many sites for a dense rho, or no unique steady state
        raise FloorError(f"no exact steady state to fit: {e}") from None


def exact_values(rho: np.ndarray, spec) -> dict[str, float]:
    from .exact.dynamics import dense_expect
    from .observables import evaluate

    e = dense_expect(rho, spec.system.n_sites)
    return {o.name: float(np.real(evaluate(o, e))) for o in spec.observables}


def _hadamard_all(rho: np.ndarray, n: int) -> np.ndarray:
    """U rho U with the Hadamard on every site (U = U^dag = U^-1)."""
    h = np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2)
    t = rho.reshape((2,) * (2 * n))
    for i in range(2 * n):
        t = np.moveaxis(np.tensordot(h, t, axes=([1], [i])), 0, i)
    return t.reshape(rho.shape)


class DensityFit:
    """A spec's cnn / rbm_ndo network over every doubled configuration of its system (in the Z-parity
    sector where the model conserves it, in the basis the run trains in) beside the exact rho there."""

    def __init__(self, spec, max_configs: int = MAX_CONFIGS, rho_exact: np.ndarray | None = None):
        import jax.numpy as jnp

        from .solvers.steady_l2 import MODULES, _check
        from .vmc.configs import all_doubled, in_parity_sector

        p = _check(spec)
        self.module = MODULES[spec.method](spec, p)
        self.n, self.basis = spec.system.n_sites, p["basis"]
        self.system = spec.system.in_x_basis() if self.basis == "x" else spec.system
        n_conf = n_configurations(spec)
        if n_conf > max_configs:
            raise FloorError(f"the fit enumerates {n_conf} doubled configurations, over the limit {max_configs}")
        if rho_exact is None:  # the caller's exact rho (usual basis) saves a second exact solve
            rho_exact = exact_rho(spec.system)
        self.rho_exact = _hadamard_all(rho_exact, self.n) if self.basis == "x" else rho_exact  # the network's basis
        X = all_doubled(self.n)
        self.keep = in_parity_sector(X) if self.system.conserves_z_parity() else np.ones(len(X), bool)
        self.target = jnp.asarray(self.rho_exact.reshape(-1)[self.keep] / np.linalg.norm(self.rho_exact))
        self.X = jnp.asarray(X[self.keep])

    def init(self, seed: int):
        import jax

        return self.module.init(jax.random.PRNGKey(seed), self.X[:1])

    def amplitudes(self, theta):
        """rho_theta on the enumerated configurations, up to a scale."""
        import jax.numpy as jnp

        lr = self.module.apply(theta, self.X)
        return jnp.exp(lr - jnp.max(lr.real))

    def infidelity(self, theta):
        import jax.numpy as jnp

        r = self.amplitudes(theta)
        return 1.0 - jnp.abs(jnp.vdot(r, self.target)) ** 2 / jnp.sum(jnp.abs(r) ** 2)

    def rho(self, theta) -> np.ndarray:
        """The dense, unit-trace rho_theta in the usual basis."""
        full = np.zeros(4**self.n, complex)
        full[self.keep] = np.asarray(self.amplitudes(theta))
        rho = full.reshape(2**self.n, 2**self.n)
        rho = rho / np.trace(rho)
        return _hadamard_all(rho, self.n) if self.basis == "x" else rho


DEFAULTS = {k: v for k, v in FLOOR_DEFAULTS.items() if k != "max_configs"}  # benchmarks/bench_floor.py


def check_settings(optimizer: str, steps: int, lr: float, tol: float, window: int, max_configs: int = MAX_CONFIGS,
                   warmup: int = 0) -> None:
    """FloorError (one line, naming the command-line flag) for settings no fit can run with."""
    problem = floor_settings_problem(dict(optimizer=optimizer, steps=steps, lr=lr, tol=tol, window=window,
                                          max_configs=max_configs, warmup=warmup),
                                     lambda k: "--" + k.replace("_", "-"))
    if problem:
        raise FloorError(problem)


CONVERGED = ("rel_decrease", "roundoff", "gradient")  # stop reasons at a minimum (else steps, line_search, nonfinite)


def stalled(before: float, now: float, tol: float) -> bool:
    """The stopping rule: over the last `window` iterations the loss fell by less than `tol` of itself
    (a deterministic loss: a quasi-Newton method that gains that little more is at its minimum, or at the
    roundoff of the loss)."""
    return not before - now > tol * abs(before)


def adam(loss, params, steps: int, lr: float, every: int = 0, report=None):
    """`steps` jitted Adam steps on loss(params) (a fresh Adam); report(step, params) every `every` steps."""
    import jax
    import optax

    opt = optax.adam(lr)

    @jax.jit
    def step(theta, st):
        value, g = jax.value_and_grad(loss)(theta)
        up, st = opt.update(g, st, theta)
        return optax.apply_updates(theta, up), st, value

    state = opt.init(params)
    for it in range(1, steps + 1):
        params, state, _ = step(params, state)
        if report is not None and every and (it % every == 0 or it == steps):
            report(it, params)
    return params


def lbfgs(loss, params, steps: int, tol: float, window: int = 10, warmup: int = 0, lr: float = 0.01):
    """L-BFGS (scipy's L-BFGS-B, unbounded) on loss(params) with one jitted value and gradient per
    evaluation, after `warmup` Adam steps of rate `lr` on the same compiled function, for at most `steps`
    iterations, stopped every `window` iterations by `stalled`; returns (the parameters it ended at,
    {iterations, evaluations, stop_reason}).

    scipy's host-side line search rather than optax.lbfgs: optax's zoom line search is a while loop
    around the loss inside the jitted step, which on CPU compiled for 11-16 s and ran 5-30 times slower
    per iteration than the plain value and gradient (a 6-site RBM fit, benchmarks/bench_floor.py)."""
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree
    from scipy.optimize import minimize

    flat, unravel = ravel_pytree(params)
    dtype = flat.dtype
    value_and_grad = jax.jit(jax.value_and_grad(lambda x: loss(unravel(x))))

    def fun(x):
        value, g = value_and_grad(jnp.asarray(x, dtype))
        return float(value), np.asarray(g, np.float64)

    x = np.asarray(flat, np.float64)
    m, v = np.zeros_like(x), np.zeros_like(x)
    for t in range(1, warmup + 1):  # optax.adam's update (b1 0.9, b2 0.999, eps 1e-8) on the host
        _, g = fun(x)
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        x = x - lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)

    state = {"it": 0, "before": fun(x)[0], "reason": None}  # the first window's reference: the start

    def callback(intermediate_result):
        state["it"] += 1
        value = float(intermediate_result.fun)
        if not np.isfinite(value):
            state["reason"] = "nonfinite"
            raise StopIteration
        if state["it"] % window == 0:
            if stalled(state["before"], value, tol):
                state["reason"] = "rel_decrease"
                raise StopIteration
            state["before"] = value

    res = minimize(fun, x, jac=True, method="L-BFGS-B", callback=callback,
                   options={"maxiter": steps, "maxfun": 50 * steps, "ftol": 0.0, "gtol": 0.0, "maxcor": 10})
    # scipy's own stops (its ftol and gtol are 0): the loss no longer changes at all (roundoff), a zero
    # projected gradient, or a line search that found no decrease (status 2)
    reason = state["reason"] or ("steps" if res.status == 1 else "line_search" if res.status != 0
                                 else "gradient" if "GRADIENT" in str(res.message).upper() else "roundoff")
    return unravel(jnp.asarray(res.x, dtype)), {"iterations": int(res.nit), "evaluations": warmup + int(res.nfev) + 1,
                                                "stop_reason": reason}


def fit_density_matrix(spec, steps: int, lr: float, seed: int = 0, max_configs: int = MAX_CONFIGS,
                       rho_exact: np.ndarray | None = None, optimizer: str = DEFAULTS["optimizer"], tol: float = DEFAULTS["tol"],
                       window: int = DEFAULTS["window"], warmup: int = DEFAULTS["warmup"]) -> dict:
    """The spec's cnn / rbm_ndo network fitted to the exact rho on the infidelity (`steps` Adam steps of
    rate `lr`, or L-BFGS for at most `steps` iterations until `stalled`); returns the fit's dense rho
    (usual basis, unit trace), its infidelity, parameter count and how the optimiser ended."""
    import jax

    fit = DensityFit(spec, max_configs, rho_exact)
    params = fit.init(seed)
    n_par = sum(int(np.prod(q.shape)) for q in jax.tree_util.tree_leaves(params))
    if optimizer == "adam":  # auto: L-BFGS here
        params = adam(fit.infidelity, params, steps, lr)
        run = {"fitted_by": "adam", "iterations": steps, "evaluations": steps, "stop_reason": "steps"}
    else:  # `warmup` Adam steps first: away from the near-symmetric initial point's plateaus
        params, run = lbfgs(fit.infidelity, params, steps, tol, window, warmup, lr)
        run = {"fitted_by": "lbfgs", **run}
    return {"rho": fit.rho(params), "loss": float(fit.infidelity(params)), "loss_name": "infidelity",
            "n_params": n_par, "n_configs": int(fit.keep.sum()), **run}


def all_log_probs(model, a):
    """log p(a) of a POVM Transformer (or String States over it) on all 4^N strings `a` (the order of
    povm.lindbladian.all_strings), differentiable: one causal pass over the 4^(N-1) strings that end in
    outcome 0 gives every conditional, log p(b, c) = sum_k<N-1 log p(b_k | b_<k) + log p(c | b), a
    quarter of the tokens of model.log_prob; String States read the same table of their shared base
    along each ordering (a permutation of all strings is all strings), one pass for all orderings."""
    from .nets.strings import StringStates
    from .nets.transformer import Transformer

    base = model.base if isinstance(model, StringStates) else model
    n = a.shape[1]
    if not isinstance(base, Transformer) or n < 2 or len(a) != 4**n:
        return model.log_prob(a)
    b = a[::4]  # the last site is the least significant digit
    lc = base.log_conditionals(b)  # [4^(N-1), N, 4]
    own = lc[:, :-1].gather(-1, b[:, :-1].unsqueeze(-1)).squeeze(-1).sum(-1)
    table = (own[:, None] + lc[:, -1, :]).reshape(-1)
    if base is model:
        return table
    digits = 4 ** torch_arange_desc(n, a.device)
    lp = table[(a[:, model.orders] * digits).sum(-1)].T  # [N_s, 4^N]: string s read along its ordering
    return lp[0] if model.n_strings == 1 else lp.logsumexp(0) - np.log(model.n_strings)


def torch_arange_desc(n: int, device):
    import torch

    return torch.arange(n - 1, -1, -1, device=device)


def fit_povm(spec, steps: int, lr: float, seed: int = 0, max_configs: int = MAX_CONFIGS,
             rho_exact: np.ndarray | None = None, optimizer: str = DEFAULTS["optimizer"], tol: float = DEFAULTS["tol"],
             window: int = DEFAULTS["window"], warmup: int = DEFAULTS["warmup"]) -> dict:
    """The spec's Transformer fitted to the exact POVM distribution; returns the fit's exact observables.
    optimizer adam: `steps` Adam steps on model.log_prob (the fit of before); auto: the same steps on the
    KL from all_log_probs (4-7 times cheaper on the quick floors), ending at the best point passed;
    lbfgs: `warmup` of those steps, then torch's L-BFGS (strong-Wolfe line search) in float64, as
    fit_density_matrix (on the quick floors it ended above Adam: benchmarks/README.md)."""
    import torch

    from .povm import get_povm
    from .povm.lindbladian import all_strings
    from .povm_solvers.costs import log_prob_chunked
    from .povm_solvers.training import POVMTrainer, build_model, make_adam
    from .solvers.transformer import _check_params, _net_config

    p = _check_params(spec)
    n = spec.system.n_sites
    if n_configurations(spec) > max_configs:
        raise FloorError(f"the fit enumerates {4**n} POVM strings, over the limit {max_configs}")
    povm = get_povm(p["povm"])
    P = np.clip(povm.probabilities(exact_rho(spec.system) if rho_exact is None else rho_exact), 0.0, None)
    P = P / P.sum()
    torch.manual_seed(seed)
    cfg = _net_config(p)
    if optimizer == "lbfgs":
        # the same network in float64: a float32 KL (cross-entropy minus entropy, both O(N)) is noise at
        # 1e-6, where the line search must see decreases of that size
        cfg = dataclasses.replace(cfg, dtype="float64")
    model = build_model(spec.system, cfg, povm.product_probabilities(p["init"]), "cpu")
    trainer = POVMTrainer(spec.system, p["povm"], model, seed, "cpu", p["chunk"], prefix=p["prefix"])
    a = torch.as_tensor(all_strings(n))  # the order of povm.probabilities
    dtype = next(model.parameters()).dtype
    Pt = torch.as_tensor(P, dtype=dtype)
    support = Pt > 0
    entropy = float((Pt[support] * Pt[support].log()).sum())
    model.train()

    def kl():
        if optimizer != "adam":  # the fast table (all_log_probs); Adam keeps the fit it always had
            return (Pt * -all_log_probs(model, a)).sum() + entropy
        return (Pt * -log_prob_chunked(model, a, trainer.chunk, grad=torch.is_grad_enabled())).sum() + entropy

    opt = make_adam(model, lr)
    params = [q for q in model.parameters() if q.requires_grad]
    best, best_params = np.inf, None
    for _ in range(warmup if optimizer == "lbfgs" else steps):
        opt.zero_grad(set_to_none=True)
        loss = kl()
        loss.backward()
        if optimizer == "auto" and float(loss.detach()) < best:  # the loss of the parameters before this step
            best, best_params = float(loss.detach()), [q.detach().clone() for q in params]
        opt.step()
    if optimizer == "lbfgs":
        run = {"fitted_by": "lbfgs", **_torch_lbfgs(model, kl, steps, tol, window)}
    else:
        run = {"fitted_by": "adam", "iterations": steps, "evaluations": steps, "stop_reason": "steps"}
    if best_params is not None:  # constant-rate Adam oscillates: the best point it passed, not its last
        with torch.no_grad():
            if not float(kl()) <= best:
                for q, v in zip(params, best_params):
                    q.copy_(v)
    model.eval()
    with torch.no_grad():
        loss = float(kl())
    values = {name: v for name, v, _ in trainer.exact_observables(list(spec.observables))}
    p_fit = trainer.exact_probabilities().double().cpu().numpy()
    return {"values": values, "rho": povm.density_matrix(p_fit), "loss": loss, "loss_name": "kl",
            "n_params": sum(q.numel() for q in model.parameters()), "n_configs": 4**n, **run}


def _torch_lbfgs(model, loss, steps: int, tol: float, window: int) -> dict:
    """torch.optim.LBFGS (strong-Wolfe line search) on loss() for at most `steps` iterations, in calls of
    `window` iterations stopped by `stalled` between them; the model is left at the best loss seen at a
    call's start or at the end."""
    import torch

    params = [q for q in model.parameters() if q.requires_grad]
    # torch's own stops off (zero tolerances) but a zero step: a line search that found no decrease
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=window, max_eval=25 * window, tolerance_grad=0.0,
                            tolerance_change=0.0, history_size=10, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad(set_to_none=True)
        value = loss()
        value.backward()
        return value

    def n_iter():
        return int(opt.state[params[0]].get("n_iter", 0))

    best, best_params, before, reason = np.inf, None, None, "steps"
    while n_iter() < steps:
        start, done = [q.detach().clone() for q in params], n_iter()
        opt.param_groups[0]["max_iter"] = min(window, steps - done)
        value = float(opt.step(closure).detach())  # the loss at `start`
        if not np.isfinite(value):
            reason = "nonfinite"
            break
        if value < best:
            best, best_params = value, start
        if (before is not None and stalled(before, value, tol)) or n_iter() == done:
            reason = "rel_decrease"
            break
        before = value
    with torch.no_grad():
        last = float(loss())
        if not (np.isfinite(last) and last <= best) and best_params is not None:
            for q, v in zip(params, best_params):
                q.copy_(v)
    evals = int(opt.state[params[0]].get("func_evals", 0))
    return {"iterations": n_iter(), "evaluations": evals, "stop_reason": reason}


def trace_distance(rho: np.ndarray, sigma: np.ndarray) -> float:
    """(1/2) ||rho - sigma||_1 (singular values: rho need not be exactly Hermitian)."""
    return float(0.5 * np.linalg.svd(rho - sigma, compute_uv=False).sum())


def fit_floor(spec, steps: int = DEFAULTS["steps"], lr: float = DEFAULTS["lr"], max_configs: int = MAX_CONFIGS,
              optimizer: str = DEFAULTS["optimizer"], tol: float = DEFAULTS["tol"],
              window: int = DEFAULTS["window"], warmup: int = DEFAULTS["warmup"]) -> tuple[pd.DataFrame, dict]:
    """(table, info): the fitted network's observables beside exact, and the fit's scalars."""
    check_settings(optimizer, steps, lr, tol, window, max_configs, warmup)
    if spec.task.kind != "steady":
        raise FloorError(f"the floor is a steady-state fit; task.kind is {spec.task.kind}")
    name = spec.method
    if name not in METHODS:
        raise FloorError(f"no fit-to-exact floor for method {name} (one of: {', '.join(METHODS)})")
    started = time.perf_counter()
    if name != "transformer":  # the JAX fits: a one-thread job (rules/review.smk)
        from .compile_cache import enable_compilation_cache
        from .threads import start_jax

        start_jax(1)
        enable_compilation_cache()
    rho_ex = exact_rho(spec.system)
    exact = exact_values(rho_ex, spec)
    how = {"optimizer": optimizer, "tol": tol, "window": window, "warmup": warmup}
    if name in DM_METHODS:
        fit = fit_density_matrix(spec, steps, lr, spec.seed, max_configs, rho_ex, **how)
        values = exact_values(fit["rho"], spec)
    else:
        fit = fit_povm(spec, steps, lr, spec.seed, max_configs, rho_ex, **how)
        values = fit.pop("values")
    fit["trace_distance"] = trace_distance(fit.pop("rho"), rho_ex)
    table = pd.DataFrame([{"observable": o, "fit": values[o], "exact": exact[o], "abs_error": abs(values[o] - exact[o])}
                          for o in exact])
    info = {"method": name, "network": network_id(name, spec.params), "system": spec.raw["system"], **fit,
            "steps": steps, "lr": lr, **how, "max_abs_error": float(table["abs_error"].max()),
            "wall_time_s": time.perf_counter() - started}
    return table, info


def write_floor(spec_path, out: Path, steps: int = DEFAULTS["steps"], lr: float = DEFAULTS["lr"],
                max_configs: int = MAX_CONFIGS, optimizer: str = DEFAULTS["optimizer"], tol: float = DEFAULTS["tol"],
                window: int = DEFAULTS["window"], warmup: int = DEFAULTS["warmup"]) -> dict:
    """FLOOR.csv (one row per observable) and FLOOR.json (the fit's scalars) of a run spec's network."""
    from .results import atomic_path
    from .spec import load_spec

    out = Path(out)
    if out.suffix != ".csv":
        raise FloorError(f"--out must name a .csv file (the .json is written beside it), got {out}")
    table, info = fit_floor(load_spec(spec_path), steps, lr, max_configs, optimizer, tol, window, warmup)
    info["spec"] = str(spec_path)
    with atomic_path(out.with_suffix(".json")) as tmp:
        Path(tmp).write_text(json.dumps(info, indent=1))
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    return info
