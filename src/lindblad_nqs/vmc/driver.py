"""The steady-state loop: sample, estimate the L2 cost and its gradient, update, checkpoint, observe.

Used by solvers.steady_l2 for both the CNN and the purified RBM. Per iteration the history records the
cost (with its error), acceptance, split-R-hat of the chains' log density, the effective sample size
of the importance weights, the optimiser's step, wall time and, every `track_every` iterations, the
tracked observables from a small diagonal sample. Checkpoints (state_dir/checkpoint.npz) hold everything
needed to resume bit-for-bit in the sample stream: parameters, optimiser state, chain states, PRNG key,
history. A NaN cost or gradient rolls back to the last finite parameters and shrinks the step; five in a
row abort the run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .optimizers import make_optimizer
from .sampling import PRNG_IMPL, ExactSampler, MetropolisSampler, autocorr_time, enumerate_configs, prng_key, split_rhat


@dataclass
class SteadyRun:
    theta: np.ndarray
    history: pd.DataFrame
    rows: dict  # observable -> (value, stderr)
    info: dict = field(default_factory=dict)


def _flat_model(module, params):
    import jax
    from jax.flatten_util import ravel_pytree

    theta0, unravel = ravel_pytree(params)

    def log_rho(theta, x):
        return module.apply(unravel(theta), x)

    return np.asarray(theta0, float), unravel, log_rho


BASIS_KEY = "__basis__"  # which basis the parameters represent rho in (z, or x: U rho U)


def save_params_npz(path: Path, params, basis: str = "z") -> None:
    import jax

    flat = {"/".join(str(getattr(k, "key", k)) for k in p): np.asarray(v)
            for p, v in jax.tree_util.tree_flatten_with_path(params)[0]}
    np.savez(path, **flat, **{BASIS_KEY: np.array(basis)})


def load_params_into(path: Path, params, basis: str = "z"):
    """Parameters of another run (transfer learning): every leaf must exist with the same shape, and
    the other run must have trained in the same basis (the parameters of U rho U are not those of rho)."""
    import jax

    data = np.load(path)
    if BASIS_KEY in data.files and str(data[BASIS_KEY]) != basis:
        raise ValueError(f"{path} holds parameters trained in the {data[BASIS_KEY]} basis; this run has "
                         f"method.basis {basis} (params.npz must come from a run in the same basis)")
    leaves, tree = jax.tree_util.tree_flatten_with_path(params)
    out = []
    for p, v in leaves:
        key = "/".join(str(getattr(k, "key", k)) for k in p)
        if key not in data.files:
            raise ValueError(f"parameter {key} missing in {path}")
        if data[key].shape != v.shape:
            raise ValueError(f"parameter {key} has shape {data[key].shape} in {path}, this model needs {v.shape}")
        out.append(data[key].astype(v.dtype))
    return jax.tree_util.tree_unflatten(tree, out)


def collapse_warning(c_l2, aux_l2, c_ldagl, aux_ldagl, z: float = 5.0) -> str | None:
    """A warning when the L^dag L estimate of the cost exceeds the |L_loc|^2 estimate on the same samples
    threefold and by more than z standard errors: rho then vanishes where L rho does not (a collapsed
    state), which |L_loc|^2 cannot see. Both estimate the same cost, so near convergence, where both are
    small and the L^dag L one is the noisier, a ratio alone would fire on noise."""
    c1, c2 = float(c_l2), float(c_ldagl)
    se = float(np.sqrt(aux_l2["var"] / aux_l2["ess"] + aux_ldagl["var"] / aux_ldagl["ess"]))
    if c2 > 3 * c1 and c2 - c1 > z * se:
        return (f"the L^dag L estimate of the final cost ({c2:.3g}) is much larger than the |L_loc|^2 estimate "
                f"({c1:.3g} +- {se:.2g}): rho vanishes where L rho does not (collapsed state); try "
                "estimator: ldagl or a smaller lr")
    return None


def run_steady(system, module, params0, cfg: dict, observables, *, seed: int, state_dir: Path,
               init_state: Path | None = None, progress: bool = False, tracked=()) -> SteadyRun:
    import jax
    import jax.numpy as jnp

    from .cost import make_cost
    from .local_estimator import LocalLiouvillian
    from .observables import estimate

    n = system.n_sites
    basis = cfg["basis"]
    if basis == "x":  # the ansatz represents U rho U (Hadamard on every site); observables map back
        system = system.in_x_basis()
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    info: dict = {}
    if init_state is not None:
        src = Path(init_state) / "params.npz"
        if not src.is_file():
            raise FileNotFoundError(f"--init-state {init_state} has no params.npz (not a cnn/rbm_ndo run?)")
        params0 = load_params_into(src, params0, basis)
        info["initialised_from"] = str(init_state)
    theta0, unravel, log_rho_flat = _flat_model(module, params0)
    info["n_params"] = int(theta0.size)
    lind = LocalLiouvillian(system)
    info["connected_per_sample"] = lind.n_conn
    costs = make_cost(log_rho_flat, lind, estimator=cfg["estimator"])
    sector = bool(cfg["sector"]) and system.conserves_z_parity()
    info["sector_restricted"] = sector
    beta = cfg["beta"]
    n_chains = cfg["n_chains"]
    per_chain = max(1, -(-cfg["n_samples"] // n_chains))
    kind = cfg["sampler"]
    if kind == "metropolis":
        sampler = MetropolisSampler(log_rho_flat, n, n_chains, "doubled", 2 * beta, sector, cfg["sweep"] or None)
    elif kind == "exact":
        sampler = ExactSampler(log_rho_flat, n, n_chains, "doubled", 2 * beta, sector)
    elif kind == "full_sum":
        sampler = None
        all_x = jnp.asarray(enumerate_configs(n, "doubled", sector))
    else:
        raise ValueError(f"unknown sampler {kind!r}")

    opt = make_optimizer(cfg["optimizer"], theta0, cfg)
    key = prng_key(seed)
    track_key = prng_key(seed + 104729)
    key, k0 = jax.random.split(key)
    chain = sampler.init_state(k0) if sampler is not None else None
    start_it, rows_hist = 0, []
    ckpt = state_dir / "checkpoint.npz"
    # a checkpoint resumes only the same system, network and sampling/optimisation setup (the iteration
    # budget and the observation settings may differ); anything else starts afresh
    volatile = {"iterations", "checkpoint_every", "obs_samples", "obs_chains", "track", "track_every",
                "track_samples", "eig_max_sites"}
    if cfg["optimizer"] == "adam" and cfg["lr_final_factor"] != 1.0:
        volatile.discard("iterations")  # the decay schedule depends on the budget
    fingerprint = json.dumps({"system": system.to_dict(), "module": repr(module),
                              "cfg": {k: v for k, v in sorted(cfg.items()) if k not in volatile},
                              "seed": seed, "init": str(init_state)}, sort_keys=True, default=str)
    if ckpt.is_file():
        d = np.load(ckpt, allow_pickle=False)
        same_run = "fingerprint" in d.files and str(d["fingerprint"]) == fingerprint
        if same_run and int(d["iteration"]) > cfg["iterations"]:
            # a longer run's state is not the answer of a shorter budget: start afresh
            info["checkpoint_ignored"] = f"checkpoint at iteration {int(d['iteration'])} > iterations {cfg['iterations']}"
        elif same_run:
            opt.load({k[4:]: d[k] for k in d.files if k.startswith("opt_")})
            start_it = int(d["iteration"])
            key = jax.random.wrap_key_data(jnp.asarray(d["key"]), impl=PRNG_IMPL)
            if chain is not None and "chain" in d.files:
                chain = jnp.asarray(d["chain"])
            rows_hist = json.loads(str(d["history"]))[:start_it]  # one row per completed iteration
            info["resumed_from_iteration"] = start_it
        else:
            info["checkpoint_ignored"] = "different system, network or settings"

    def save_checkpoint(it):
        extra = {"chain": np.asarray(chain)} if chain is not None else {}
        tmp = state_dir / "checkpoint.tmp.npz"
        np.savez(tmp, iteration=it, key=np.asarray(jax.random.key_data(key)), n_params=theta0.size,
                 optimizer=cfg["optimizer"], fingerprint=fingerprint,
                 history=json.dumps(rows_hist), **{f"opt_{k}": v for k, v in opt.state().items()}, **extra)
        tmp.replace(ckpt)
        save_params_npz(state_dir / "params.npz", unravel(jnp.asarray(opt.theta, jnp.float32)), basis)

    diag_sampler = MetropolisSampler(log_rho_flat, n, cfg["obs_chains"], "diagonal", 1.0)
    diag_chain = None

    obs_per_call = max(2, -(-cfg["track_samples"] // cfg["obs_chains"]))

    def observe(theta, n_samples, key, n_discard):
        """Diagonal samples in calls of a fixed length (one compilation), then the estimators."""
        nonlocal diag_chain
        if diag_chain is None:
            key, k0 = jax.random.split(key)
            diag_chain = diag_sampler.init_state(k0)
            n_discard = max(n_discard, cfg["n_discard"])
        xs, lrs, accs = [], [], []
        for c in range(max(1, -(-n_samples // (obs_per_call * cfg["obs_chains"])))):
            key, kc = jax.random.split(key)
            diag_chain, batch = diag_sampler.sample(theta, diag_chain, kc, obs_per_call, n_discard if c == 0 else 0)
            xs.append(np.asarray(batch.x))
            lrs.append(np.asarray(batch.log_rho))
            accs.append(batch.acceptance)
        xs, lrs = np.concatenate(xs, axis=1), np.concatenate(lrs, axis=1)
        res, oinfo = estimate(costs.log_rho, theta, xs, lrs, observables, chunk=obs_per_call * cfg["obs_chains"],
                              parity_sector=sector, basis=basis)
        oinfo["acceptance"] = float(np.mean(accs))
        oinfo["rhat"] = split_rhat(lrs.real)
        oinfo["autocorr_time"] = autocorr_time(lrs.real)
        return res, oinfo

    tracked_obs = [o for o in observables if o.name in set(tracked)]
    iters = cfg["iterations"]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=iters, initial=start_it, desc=f"{cfg['optimizer']} L2 steady state", unit="it")
    nan_streak, last_good = 0, opt.theta.copy()
    jac_fn = None
    if cfg["optimizer"] == "sr":
        def _jac(theta, x):
            # per-sample Jacobian (vmap of a single-sample jacrev): O(B) work, not O(B^2)
            def one(th, xi):
                v = log_rho_flat(th, xi[None])[0]
                return jnp.stack([v.real, v.imag])

            J = jax.vmap(jax.jacrev(one), in_axes=(None, 0))(theta, x)  # (B, 2, P)
            return J[:, 0] + 1j * J[:, 1]
        jac_fn = jax.jit(_jac)
    if cfg["optimizer"] == "gn":
        from .cost import make_residual_jacobian

        resid_jac = make_residual_jacobian(log_rho_flat, lind)

    for it in range(start_it, iters):
        t0 = time.perf_counter()
        y = jnp.asarray(opt.point(), jnp.float32)
        key, ks = jax.random.split(key)
        if sampler is not None:
            discard = cfg["n_discard"] if it == 0 else 0
            chain, batch = sampler.sample(y, chain, ks, per_chain, discard)
            x = batch.x.reshape(-1, 2, n)
            lq = 2 * beta * batch.log_rho.reshape(-1).real
            acc = batch.acceptance
            rhat = split_rhat(np.asarray(batch.log_rho).real) if kind == "metropolis" else 1.0
        else:
            x, lq, acc, rhat = all_x, jnp.zeros(all_x.shape[0]), 1.0, 1.0
        cost, g, aux = costs.value_and_grad(y, x, lq)
        cost = float(cost)
        g = np.asarray(g, float)
        if not (np.isfinite(cost) and np.all(np.isfinite(g))):
            nan_streak += 1
            if nan_streak >= 5:
                raise RuntimeError(f"cost or gradient not finite in 5 consecutive iterations (iteration {it})")
            opt.theta = last_good.copy()
            opt.scale_step(0.5)
            if sampler is not None:
                key, k0 = jax.random.split(key)
                chain = sampler.init_state(k0)
            continue
        nan_streak = 0
        last_good = np.asarray(y, float).copy()

        ess_now = float(aux["ess"])

        def trial(theta_new):
            # the ESS of the reweighting to theta_new relative to the ESS at the current point: the weights
            # are not flat even at theta itself when beta < 1 or the sum is exhaustive (full_sum), and an
            # absolute threshold rejected every step there (the stalls on the 3x3 lattice)
            c, a = costs.value(jnp.asarray(theta_new, jnp.float32), x, lq)
            return float(c), float(a["ess"]) / ess_now

        if cfg["optimizer"] == "gn":
            jac = lambda: resid_jac(y, x, lq)  # noqa: E731  (called only by the Gauss-Newton step)
        elif jac_fn is not None:
            jac = lambda: (jac_fn(y, x), jax.nn.softmax(2 * costs.log_rho(y, x).real - lq))  # noqa: E731
        else:
            jac = None
        cost_err = float(np.sqrt(max(float(aux["var"]), 0.0) / max(float(aux["ess"]), 1.0)))
        opt.update(g, cost, trial, jac, cost_err=cost_err)
        dt = time.perf_counter() - t0
        row = {"iteration": it + 1, "cost": cost, "cost_stderr": cost_err,
               "acceptance": acc, "rhat": rhat, "ess": float(aux["ess"]), "grad_norm": float(np.linalg.norm(g)),
               "step": float(opt.info.get("step", np.nan)), "time_s": dt}
        if "accepted" in opt.info:  # NAGD+ and Gauss-Newton may reject a step; checks.check_rows reads this
            row["accepted"] = bool(opt.info["accepted"])
        if "backtracks" in opt.info:
            row.update(backtracks=int(opt.info["backtracks"]))
            if "restart" in opt.info:
                row["restart"] = int(opt.info["restart"])
        if tracked_obs and ((it + 1) % cfg["track_every"] == 0 or it + 1 == iters or it == 0):
            kt = jax.random.fold_in(track_key, it)  # its own stream: tracking never changes the optimisation
            res, _ = observe(jnp.asarray(opt.theta, jnp.float32), cfg["track_samples"], kt, 2)
            for o in tracked_obs:
                row[o.name] = res[o.name][0]
        rows_hist.append(row)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(cost=f"{cost:.3g}")
        if (it + 1) % cfg["checkpoint_every"] == 0:
            save_checkpoint(it + 1)
    if bar is not None:
        bar.close()
    save_checkpoint(iters)
    theta = jnp.asarray(opt.theta, jnp.float32)

    # final cost with a fresh, larger sample, then the observables
    t0 = time.perf_counter()
    key, kf, ko = jax.random.split(key, 3)
    if sampler is not None:
        chain, batch = sampler.sample(theta, chain, kf, per_chain, cfg["n_discard"])
        x, lq = batch.x.reshape(-1, 2, n), 2 * beta * batch.log_rho.reshape(-1).real
        info["final_acceptance"] = batch.acceptance
        if kind == "metropolis":
            info["final_rhat"] = split_rhat(np.asarray(batch.log_rho).real)
            info["final_autocorr_time"] = autocorr_time(np.asarray(batch.log_rho).real)
    else:
        x, lq = all_x, jnp.zeros(all_x.shape[0])
    c, _, aux = costs.value_and_grad(theta, x, lq)  # same shapes as in training: no new compilation
    info["final_cost"] = float(c)
    if cfg["estimator"] == "l2" and n <= 16:
        # the same cost from the L^dag L estimator on a subset: it also sees elements where rho vanishes but
        # L rho does not, to which |L_loc|^2 is blind (a collapsed rho can look converged to the L2 estimate)
        from .cost import make_cost as _mc

        m = min(256, x.shape[0])
        c2, aux2 = _mc(log_rho_flat, lind, estimator="ldagl").value(theta, x[:m], lq[:m])
        c1, aux1 = costs.value(theta, x[:m], lq[:m])
        info["final_cost_subset_l2"] = float(c1)
        info["final_cost_subset_ldagl"] = float(c2)
        warning = collapse_warning(c1, aux1, c2, aux2)
        if warning:
            info["warning"] = warning
    diag_chain = None
    rows, oinfo = observe(theta, cfg["obs_samples"], ko, cfg["n_discard"])
    info["observable_sampler"] = oinfo
    info["observe_time_s"] = time.perf_counter() - t0
    info["iterations"] = iters
    if any("accepted" in r for r in rows_hist):
        info["accepted_steps"] = int(sum(bool(r.get("accepted", True)) for r in rows_hist))
    times = [r["time_s"] for r in rows_hist[1:]]  # the first iteration compiles; resumed ones count too
    info["time_per_iteration_s"] = float(np.median(times)) if times else None
    if n <= cfg["eig_max_sites"]:
        info.update(rho_spectrum(costs.log_rho, theta, n, chunk=obs_per_call * cfg["obs_chains"], parity_sector=sector))
    hist = pd.DataFrame(rows_hist)
    return SteadyRun(np.asarray(theta), hist, rows, info)


def dense_rho(log_rho, theta, n: int, chunk: int = 16384, parity_sector: bool = False) -> np.ndarray:
    """The full 2^N x 2^N matrix of the ansatz, normalised to unit trace (complex trace allowed)."""
    from .observables import _chunked

    X = enumerate_configs(n, "doubled", False)
    out = _chunked(log_rho, theta, X, chunk)
    m = out.real.max()
    rho = np.exp(out - m).reshape(2**n, 2**n)
    if parity_sector:  # trained inside the sector only; the symmetric state vanishes outside it
        from .configs import in_parity_sector

        rho = np.where(in_parity_sector(X).reshape(2**n, 2**n), rho, 0)
    return rho / np.trace(rho)


def rho_spectrum(log_rho, theta, n: int, chunk: int = 16384, parity_sector: bool = False) -> dict:
    rho = dense_rho(log_rho, theta, n, chunk, parity_sector)
    herm = 0.5 * (rho + rho.conj().T)
    ev = np.sort(np.linalg.eigvalsh(herm))[::-1]
    return {
        "rho_eigenvalues": [float(v) for v in ev],
        "rho_hermiticity_error": float(np.linalg.norm(rho - rho.conj().T) / np.linalg.norm(rho)),
        "rho_positive_sum": float(ev[ev > 0].sum()),
        "rho_negative_sum": float(ev[ev < 0].sum()),
        "rho_min_eigenvalue": float(ev[-1]),
        "rho_max_eigenvalue": float(ev[0]),
    }
