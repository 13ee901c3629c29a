"""The fit-to-exact floor of a network: the best observable error its ansatz reaches at all.

A neural steady state that ends far from exact may be limited by its sampling, its optimiser or its
ansatz. The floor removes the first two: the network of a run spec is fitted directly to the exact
steady state of the spec's system, with every configuration enumerated, and the observables of the fit
are computed exactly. What is left of the error is the ansatz's (up to how well the fit converged:
the floor is an upper bound of the network's best error, reached by `steps` Adam steps).

- density-matrix networks (cnn, rbm_ndo): Adam on the Hilbert-Schmidt infidelity
  1 - |<rho_theta, rho>|^2 / (||rho_theta||^2 ||rho||^2) over every doubled configuration (in the
  Z-parity sector where the model conserves it, and in the basis the run trains in), blind to scale
  and global phase; the fit's observables from its dense, trace-normalised rho;
- POVM networks (transformer): Adam on the Kullback-Leibler divergence KL(P || p_theta) of the exact
  POVM distribution P(a) = Tr(M_a rho) over all 4^N strings; the fit's observables as exact sums.

    lindblad-nqs floor SPEC.yaml --out FLOOR.csv [--steps 1000 --lr 0.01]

writes one row per observable (observable, fit, exact, abs_error) and FLOOR.json beside it (the loss
reached, the fit's trace distance to the exact rho, parameter count, steps, wall time).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .budget import DM_METHODS, MAX_CONFIGS, METHODS, FloorError, n_configurations, network_id


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


def fit_density_matrix(spec, steps: int, lr: float, seed: int = 0, max_configs: int = MAX_CONFIGS,
                       rho_exact: np.ndarray | None = None) -> dict:
    """The spec's cnn / rbm_ndo network fitted to the exact rho by Adam on the infidelity; returns the
    fit's dense rho (usual basis, unit trace), its infidelity and parameter count."""
    import jax

    fit = DensityFit(spec, max_configs, rho_exact)
    params = fit.init(seed)
    n_par = sum(int(np.prod(q.shape)) for q in jax.tree_util.tree_leaves(params))
    params = adam(fit.infidelity, params, steps, lr)
    return {"rho": fit.rho(params), "loss": float(fit.infidelity(params)), "loss_name": "infidelity",
            "n_params": n_par, "n_configs": int(fit.keep.sum())}


def fit_povm(spec, steps: int, lr: float, seed: int = 0, max_configs: int = MAX_CONFIGS,
             rho_exact: np.ndarray | None = None) -> dict:
    """The spec's Transformer fitted to the exact POVM distribution; returns the fit's exact observables."""
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
    model = build_model(spec.system, _net_config(p), povm.product_probabilities(p["init"]), "cpu")
    trainer = POVMTrainer(spec.system, p["povm"], model, seed, "cpu", p["chunk"], prefix=p["prefix"])
    a = torch.as_tensor(all_strings(n))  # the order of povm.probabilities
    dtype = next(model.parameters()).dtype
    Pt = torch.as_tensor(P, dtype=dtype)
    support = Pt > 0
    entropy = float((Pt[support] * Pt[support].log()).sum())
    opt = make_adam(model, lr)
    model.train()

    def kl():
        return (Pt * -log_prob_chunked(model, a, trainer.chunk, grad=torch.is_grad_enabled())).sum() + entropy

    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = kl()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        loss = float(kl())
    values = {name: v for name, v, _ in trainer.exact_observables(list(spec.observables))}
    p_fit = trainer.exact_probabilities().double().cpu().numpy()
    return {"values": values, "rho": povm.density_matrix(p_fit), "loss": loss, "loss_name": "kl", "n_params": sum(q.numel() for q in model.parameters()),
            "n_configs": 4**n}


def trace_distance(rho: np.ndarray, sigma: np.ndarray) -> float:
    """(1/2) ||rho - sigma||_1 (singular values: rho need not be exactly Hermitian)."""
    return float(0.5 * np.linalg.svd(rho - sigma, compute_uv=False).sum())


def fit_floor(spec, steps: int = 1000, lr: float = 0.01, max_configs: int = MAX_CONFIGS) -> tuple[pd.DataFrame, dict]:
    """(table, info): the fitted network's observables beside exact, and the fit's scalars."""
    if spec.task.kind != "steady":
        raise FloorError(f"the floor is a steady-state fit; task.kind is {spec.task.kind}")
    name = spec.method
    if name not in METHODS:
        raise FloorError(f"no fit-to-exact floor for method {name} (one of: {', '.join(METHODS)})")
    started = time.perf_counter()
    rho_ex = exact_rho(spec.system)
    exact = exact_values(rho_ex, spec)
    if name in DM_METHODS:
        fit = fit_density_matrix(spec, steps, lr, spec.seed, max_configs, rho_ex)
        values = exact_values(fit["rho"], spec)
    else:
        fit = fit_povm(spec, steps, lr, spec.seed, max_configs, rho_ex)
        values = fit.pop("values")
    fit["trace_distance"] = trace_distance(fit.pop("rho"), rho_ex)
    table = pd.DataFrame([{"observable": o, "fit": values[o], "exact": exact[o], "abs_error": abs(values[o] - exact[o])}
                          for o in exact])
    info = {"method": name, "network": network_id(name, spec.params), "system": spec.raw["system"], **fit,
            "steps": steps, "lr": lr, "max_abs_error": float(table["abs_error"].max()),
            "wall_time_s": time.perf_counter() - started}
    return table, info


def write_floor(spec_path, out: Path, steps: int, lr: float, max_configs: int = MAX_CONFIGS) -> dict:
    """FLOOR.csv (one row per observable) and FLOOR.json (the fit's scalars) of a run spec's network."""
    from .results import atomic_path
    from .spec import load_spec

    out = Path(out)
    if out.suffix != ".csv":
        raise FloorError(f"--out must name a .csv file (the .json is written beside it), got {out}")
    if steps < 1 or not lr > 0 or max_configs < 1:
        raise FloorError(f"--steps and --max-configs must be >= 1 and --lr > 0, got {steps}, {max_configs}, {lr}")
    table, info = fit_floor(load_spec(spec_path), steps, lr, max_configs)
    info["spec"] = str(spec_path)
    with atomic_path(out.with_suffix(".json")) as tmp:
        Path(tmp).write_text(json.dumps(info, indent=1))
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    return info
