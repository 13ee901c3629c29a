"""The steady-state loop: sample, estimate the L2 cost and its gradient, update, checkpoint, observe.

Used by solvers.steady_l2 for both the CNN and the purified RBM, in parts with one job each:

    FlatState (variational.state)   the network as functions of one flat parameter vector
    DoubledSampling                 the samples of one iteration, as the config asks (metropolis, exact, full_sum)
    Objective (vmc.optimizers)      the cost on those samples at any theta, for trial steps and Jacobians
    an optimiser (vmc.optimizers)   Adam, NAGD+, SR or Gauss-Newton, its state on the device
    optimise                        the loop: sample, cost and gradient, update, callbacks
    Observer                        the diagonal sampler and the estimators of the observables
    SteadyCheckpoint                the loop's state in a checkpoint.Checkpointer

Per iteration the history records the cost (with its error), the chains' acceptance (of all moves, and
flip_acceptance: of the moves other than the ket-bra swap), split-R-hat of the chains' log density, the
effective sample size of the importance weights, the optimiser's step, wall time and, every `track_every`
iterations, the tracked observables from a small diagonal sample. After the last iteration, the final samples
are checked for a rho collapsed onto one element (chain_collapse: provenance key `collapsed`, and a warning). Checkpoints
(state_dir/checkpoint.npz) hold everything needed to resume bit-for-bit in the sample stream:
optimiser state (parameters included), chain states, PRNG key, history. A NaN cost or gradient rolls
back to the last finite parameters and shrinks the step; five in a row abort the run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..divergence import NonFiniteStreak
from .observables import estimate
from .optimizers import Objective, from_arrays, make_optimizer, to_arrays
from .sampling import (PRNG_IMPL, ExactSampler, MetropolisSampler, autocorr_time, element_weights, enumerate_configs,
                       l2_flip_acceptance, l2_weights, prng_key, split_rhat)


@dataclass
class SteadyRun:
    theta: np.ndarray
    history: pd.DataFrame
    rows: dict  # observable -> (value, stderr)
    info: dict = field(default_factory=dict)


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


COLLAPSE_L2_FLIP_ACCEPTANCE = 3e-4


def chain_collapse(log_rho, theta, batch, sampler, rows=(), threshold: float = COLLAPSE_L2_FLIP_ACCEPTANCE,
                   chunk: int | None = None) -> dict:
    """Whether rho has collapsed onto one element (s, s') and its mirror, from the final doubled samples.

    The ket-bra swap is accepted wherever |rho| is symmetric, so the total acceptance of a collapsed rho
    (0.10 in the quick Fig. 8 x-basis run with the paper's initial std) hardly differs from that of an accurate,
    nearly pure state that rejects most flips (0.124-0.126 for the TFI chain at g = 0.5), and the flips' own
    acceptance at the chains' power 2 beta by a factor 2-6 only (0.0015-0.011 in four final draws of that
    collapse at beta = 0.5, 0.024-0.032 on the TFI states at beta = 1).
    The statistic here is the acceptance the flips would have on |rho|^2 itself (sampling.l2_flip_acceptance:
    probes from every sample, importance-weighted to |rho|^2), which does not depend on beta and resolves far
    below one sample: 5e-6 to 1e-5 on that collapse (four final draws), 0.029-0.032 on the TFI states, and
    6e-4 to 1.3e-3 on the exact 6-spin TFI state at g = 0.1, 99.3 % of whose |rho|^2 sits on one element
    (benchmarks/collapse_check.py, benchmarks/README.md). Below `threshold` (3e-4: 30 times the collapse's,
    a hundredth of the g = 0.5 states') the samples see one element of rho only, and its cost and gradient are
    blind to everything else. A steady state that is itself one element of the sampling basis (a pure product
    state) would look the same.

    Returns the provenance keys: collapsed, final_l2_flip_acceptance, final_flip_acceptance (at the chains' power),
    final_acceptance_by_move, final_distinct_elements, final_peak_share (the |rho|^2 weight of the most frequent
    element among the samples), tail_flip_acceptance (mean over the last tenth of the iterations' rows).
    chunk: the size log_rho is evaluated in (the observables' chunk: no compilation of its own)."""
    lr = np.asarray(batch.log_rho).real.reshape(-1)
    weights = element_weights(batch.x, l2_weights(lr, sampler.power))
    a2 = l2_flip_acceptance(log_rho, theta, batch.x, lr, sampler.power, sampler.probs, chunk=chunk)
    tail = [r.get("flip_acceptance", np.nan) for r in list(rows)[-max(1, len(rows) // 10):]]
    tail = [t for t in tail if np.isfinite(t)]
    return {"collapsed": bool(a2 < threshold), "final_l2_flip_acceptance": a2,
            "final_flip_acceptance": batch.flip_acceptance, "final_acceptance_by_move": dict(batch.acceptance_by_move),
            "final_distinct_elements": int(len(weights)), "final_peak_share": float(weights[0]),
            "tail_flip_acceptance": float(np.mean(tail)) if tail else float("nan")}


def collapse_message(info: dict) -> str:
    return (f"rho collapsed onto one element: flips from the final samples would be accepted "
            f"{info['final_l2_flip_acceptance']:.2g} of the time on |rho|^2 (the chains accepted "
            f"{info['final_flip_acceptance']:.3g} of their flips, {info['final_distinct_elements']} distinct elements, "
            f"{info['final_peak_share']:.4f} of |rho|^2 on one); the cost and its gradient see only that element: "
            "check against the exact state or start from a wider init_scale")


@dataclass
class Batch:
    x: object  # (B, 2, N) doubled configurations
    lq: object  # (B,) log density (up to a constant) they were drawn from; 0 for the full sum
    acceptance: float
    log_rho: object = None  # (C, S) log rho along the chains, for their diagnostics
    flip_acceptance: float = float("nan")  # the chains' moves other than the ket-bra swap (nan: no chains)
    acceptance_by_move: dict = field(default_factory=dict)


class DoubledSampling:
    """The doubled samples of one iteration, as the method keys sampler, n_samples, n_chains, beta and
    sweep ask: Metropolis chains or exact draws from |rho|^(2 beta), or every configuration (full_sum)."""

    def __init__(self, cfg: dict, log_value, n: int, sector: bool):
        import jax.numpy as jnp

        self.kind, self.n, self.beta = cfg["sampler"], n, cfg["beta"]
        self.per_chain = max(1, -(-cfg["n_samples"] // cfg["n_chains"]))
        self.all_x = None
        if self.kind == "metropolis":
            self.sampler = MetropolisSampler(log_value, n, cfg["n_chains"], "doubled", 2 * self.beta, sector,
                                             cfg["sweep"] or None)
        elif self.kind == "exact":
            self.sampler = ExactSampler(log_value, n, cfg["n_chains"], "doubled", 2 * self.beta, sector)
        elif self.kind == "full_sum":
            self.sampler = None
            self.all_x = jnp.asarray(enumerate_configs(n, "doubled", sector))
        else:
            raise ValueError(f"unknown sampler {self.kind!r}")

    def init(self, key):
        return self.sampler.init_state(key) if self.sampler is not None else None

    def draw(self, theta, chain, key, n_discard: int = 0):
        """(chain, Batch) at theta, continuing the chains."""
        import jax.numpy as jnp

        if self.sampler is None:
            return chain, Batch(self.all_x, jnp.zeros(self.all_x.shape[0]), 1.0)
        chain, b = self.sampler.sample(theta, chain, key, self.per_chain, n_discard)
        return chain, Batch(b.x.reshape(-1, 2, self.n), 2 * self.beta * b.log_rho.reshape(-1).real, b.acceptance,
                            b.log_rho, b.flip_acceptance, b.acceptance_by_move)

    def rhat(self, batch: Batch) -> float:
        return split_rhat(np.asarray(batch.log_rho).real) if self.kind == "metropolis" else 1.0


class Observer:
    """Observables of rho from diagonal Metropolis samples, drawn in calls of one fixed length (one
    compilation). The chains continue from call to call (tracking during the run) until `reset`."""

    def __init__(self, log_rho, n: int, cfg: dict, observables, sector: bool, basis: str):
        self.sampler = MetropolisSampler(log_rho, n, cfg["obs_chains"], "diagonal", 1.0)
        self.log_rho, self.observables, self.sector, self.basis = log_rho, list(observables), sector, basis
        self.per_call = max(2, -(-cfg["track_samples"] // cfg["obs_chains"]))
        self.chunk = self.per_call * cfg["obs_chains"]
        self.n_discard_first = cfg["n_discard"]
        self.chain = None

    def reset(self):
        self.chain = None

    def __call__(self, theta, n_samples: int, key, n_discard: int):
        import jax

        if self.chain is None:
            key, k0 = jax.random.split(key)
            self.chain = self.sampler.init_state(k0)
            n_discard = max(n_discard, self.n_discard_first)
        xs, lrs, accs = [], [], []
        for c in range(max(1, -(-n_samples // self.chunk))):
            key, kc = jax.random.split(key)
            self.chain, batch = self.sampler.sample(theta, self.chain, kc, self.per_call, n_discard if c == 0 else 0)
            xs.append(np.asarray(batch.x))
            lrs.append(np.asarray(batch.log_rho))
            accs.append(batch.acceptance)
        xs, lrs = np.concatenate(xs, axis=1), np.concatenate(lrs, axis=1)
        res, oinfo = estimate(self.log_rho, theta, xs, lrs, self.observables, chunk=self.chunk,
                              parity_sector=self.sector, basis=self.basis)
        oinfo["acceptance"] = float(np.mean(accs))
        oinfo["rhat"] = split_rhat(lrs.real)
        oinfo["autocorr_time"] = autocorr_time(lrs.real)
        return res, oinfo


@dataclass
class LoopState:
    """What the loop carries from iteration to iteration (and a checkpoint holds)."""
    iteration: int  # completed iterations
    opt_state: object  # the optimiser's state, on the device
    chain: object  # the doubled chains (None for exact draws and the full sum)
    key: object
    rows: list  # history, one row per completed iteration


def optimise(opt, loop: LoopState, sampling: DoubledSampling, costs, *, iterations: int, n_discard: int,
             callbacks=()) -> LoopState:
    """Iterations loop.iteration .. iterations-1: sample at opt.point, cost and gradient, opt.update, one
    history row; then each callback(loop), which may add columns to loop.rows[-1] or save the state."""
    import jax
    import jax.numpy as jnp

    streak, good = NonFiniteStreak(), opt.params(loop.opt_state)
    for it in range(loop.iteration, iterations):
        t0 = time.perf_counter()
        y = opt.point(loop.opt_state)
        loop.key, ks = jax.random.split(loop.key)
        loop.chain, batch = sampling.draw(y, loop.chain, ks, n_discard if it == 0 else 0)
        cost, g, aux = costs.value_and_grad(y, batch.x, batch.lq)
        # the scalars of the row in one transfer
        cost_h, finite, ess, var, gnorm = jax.device_get((cost, jnp.all(jnp.isfinite(g)), aux["ess"], aux["var"],
                                                          jnp.linalg.norm(g)))
        cost_h = float(cost_h)
        if not streak.check(bool(np.isfinite(cost_h) and finite), f"iteration {it}"):
            loop.opt_state = opt.rollback(loop.opt_state, good)
            if sampling.sampler is not None:
                loop.key, k0 = jax.random.split(loop.key)
                loop.chain = sampling.init(k0)
            continue
        good = y
        ess, var = float(ess), float(var)
        cost_err = float(np.sqrt(max(var, 0.0) / max(ess, 1.0)))
        loop.opt_state, info = opt.update(loop.opt_state, g, cost, cost_err,
                                          {"x": batch.x, "lq": batch.lq, "ess": aux["ess"]})
        info = {k: np.asarray(v).item() for k, v in jax.device_get(info).items()}
        row = {"iteration": it + 1, "cost": cost_h, "cost_stderr": cost_err, "acceptance": batch.acceptance,
               "rhat": sampling.rhat(batch) if batch.log_rho is not None else 1.0, "ess": ess,
               "grad_norm": float(gnorm), "step": float(info.get("step", np.nan)),
               "time_s": time.perf_counter() - t0}
        if np.isfinite(batch.flip_acceptance):  # Metropolis chains: the moves other than the ket-bra swap
            row["flip_acceptance"] = batch.flip_acceptance
        if "accepted" in info:  # NAGD+ and Gauss-Newton may reject a step; checks.check_rows reads this
            row["accepted"] = bool(info["accepted"])
        if "backtracks" in info:
            row["backtracks"] = int(info["backtracks"])
            if "restart" in info:
                row["restart"] = int(info["restart"])
        loop.rows.append(row)
        loop.iteration = it + 1
        for cb in callbacks:
            cb(loop)
    return loop


def make_objective(costs, state=None, residual_jacobian=None) -> Objective:
    """The cost on one iteration's samples (data: x, lq and the ESS at the sampling point) at any theta."""
    import jax

    def value(theta, data):
        # the ESS of the reweighting to theta relative to the ESS at the sampling point: the weights are
        # not flat even there when beta < 1 or the sum is exhaustive (full_sum), and an absolute
        # threshold rejected every step there (the stalls on the 3x3 lattice)
        c, a = costs.value(theta, data["x"], data["lq"])
        return c, a["ess"] / data["ess"]

    residuals = None if residual_jacobian is None else (lambda th, d: residual_jacobian(th, d["x"], d["lq"]))
    log_derivatives = None
    if state is not None:
        def log_derivatives(theta, data):
            w = jax.nn.softmax(2 * costs.log_rho(theta, data["x"]).real - data["lq"])
            return state.jacobian(theta, data["x"]), w
    return Objective(value, residuals, log_derivatives)


class SteadyCheckpoint:
    """The loop's state in a checkpoint.Checkpointer: optimiser state, chains and PRNG key as arrays;
    iteration, optimiser name and history as metadata."""

    def __init__(self, checkpointer, n_params: int):
        self.ck, self.n_params = checkpointer, n_params

    def save(self, loop: LoopState, optimizer: str) -> None:
        import jax

        arrays = {"key": np.asarray(jax.random.key_data(loop.key)), **to_arrays(loop.opt_state)}
        if loop.chain is not None:
            arrays["chain"] = np.asarray(loop.chain)
        self.ck.save(arrays, {"iteration": loop.iteration, "optimizer": optimizer, "n_params": self.n_params,
                              "history": loop.rows})

    def resume(self, loop: LoopState, iterations: int, info: dict) -> LoopState:
        """The saved state of this run if there is one for at most `iterations` (else `loop`, with the reason
        in info["checkpoint_ignored"])."""
        import jax
        import jax.numpy as jnp

        if self.ck is None or not self.ck.path.is_file():
            return loop
        got = self.ck.load()
        if got is None:
            info["checkpoint_ignored"] = "different system, network or settings"
            return loop
        arrays, meta = got
        it = int(meta["iteration"])
        if it > iterations:  # a longer run's state is not the answer of a shorter budget: start afresh
            info["checkpoint_ignored"] = f"checkpoint at iteration {it} > iterations {iterations}"
            return loop
        info["resumed_from_iteration"] = it
        chain = jnp.asarray(arrays["chain"]) if loop.chain is not None and "chain" in arrays else loop.chain
        return LoopState(it, from_arrays(loop.opt_state, arrays), chain,
                         jax.random.wrap_key_data(jnp.asarray(arrays["key"]), impl=PRNG_IMPL),
                         list(meta["history"])[:it])  # one row per completed iteration


def run_steady(system, module, params0, cfg: dict, observables, *, seed: int, state_dir: Path,
               checkpointer=None, init_state: Path | None = None, progress: bool = False, tracked=()) -> SteadyRun:
    """Train the network (module, params0) on the L2 cost of `system` with the method keys `cfg`, then
    measure. checkpointer: a checkpoint.Checkpointer of this run (None: no checkpoints); the parameters
    are written to state_dir/params.npz either way (for transfer learning)."""
    import jax
    import jax.numpy as jnp

    from ..variational.state import FlatState
    from .cost import make_cost, make_residual_jacobian
    from .local_estimator import LocalLiouvillian

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
    state = FlatState.from_module(module, params0, jnp.zeros((1, 2, n), jnp.int8))
    info["n_params"] = state.n_params
    lind = LocalLiouvillian(system)
    info["connected_per_sample"] = lind.n_conn
    costs = make_cost(state.log_value, lind, estimator=cfg["estimator"])
    sector = bool(cfg["sector"]) and system.conserves_z_parity()
    info["sector_restricted"] = sector
    sampling = DoubledSampling(cfg, state.log_value, n, sector)
    name = cfg["optimizer"]
    objective = make_objective(costs, state if name == "sr" else None,
                               make_residual_jacobian(state.log_value, lind) if name == "gn" else None)
    opt = make_optimizer(name, objective, cfg)

    key = prng_key(seed)
    track_key = prng_key(seed + 104729)
    key, k0 = jax.random.split(key)
    loop = LoopState(0, opt.init(state.theta0), sampling.init(k0), key, [])
    ckpt = SteadyCheckpoint(checkpointer, state.n_params)
    loop = ckpt.resume(loop, cfg["iterations"], info)

    def save(loop):
        if checkpointer is not None:
            ckpt.save(loop, name)
        save_params_npz(state_dir / "params.npz", state.unravel(opt.params(loop.opt_state)), basis)

    observer = Observer(costs.log_rho, n, cfg, observables, sector, basis)
    tracked_obs = [o for o in observables if o.name in set(tracked)]
    iters = cfg["iterations"]
    callbacks = []
    if tracked_obs:
        def track(loop):
            it = loop.iteration
            if it % cfg["track_every"] == 0 or it == iters or it == 1:
                kt = jax.random.fold_in(track_key, it - 1)  # its own stream: tracking never changes the optimisation
                res, _ = observer(opt.params(loop.opt_state), cfg["track_samples"], kt, 2)
                for o in tracked_obs:
                    loop.rows[-1][o.name], loop.rows[-1][f"{o.name}_stderr"] = res[o.name][0], res[o.name][1]
        callbacks.append(track)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=iters, initial=loop.iteration, desc=f"{name} L2 steady state", unit="it")

        def show(loop):
            bar.update(1)
            bar.set_postfix(cost=f"{loop.rows[-1]['cost']:.3g}")
        callbacks.append(show)

    def every(loop):
        if loop.iteration % cfg["checkpoint_every"] == 0:
            save(loop)
    callbacks.append(every)

    loop = optimise(opt, loop, sampling, costs, iterations=iters, n_discard=cfg["n_discard"], callbacks=callbacks)
    if bar is not None:
        bar.close()
    loop.iteration = iters
    save(loop)
    theta = opt.params(loop.opt_state)
    rows_hist = loop.rows

    # final cost with a fresh, larger sample, then the observables
    t0 = time.perf_counter()
    key, kf, ko = jax.random.split(loop.key, 3)
    chain, batch = sampling.draw(theta, loop.chain, kf, cfg["n_discard"])
    x, lq = batch.x, batch.lq
    warnings = []
    if sampling.sampler is not None:
        info["final_acceptance"] = batch.acceptance
        if sampling.kind == "metropolis":
            info["final_rhat"] = split_rhat(np.asarray(batch.log_rho).real)
            info["final_autocorr_time"] = autocorr_time(np.asarray(batch.log_rho).real)
            info.update(chain_collapse(costs.log_rho, theta, batch, sampling.sampler, rows_hist, chunk=observer.chunk))
            if info["collapsed"]:
                warnings.append(collapse_message(info))
    c, _, aux = costs.value_and_grad(theta, x, lq)  # same shapes as in training: no new compilation
    info["final_cost"] = float(c)
    if cfg["estimator"] == "l2" and n <= 16:
        # the same cost from the L^dag L estimator on a subset: it also sees elements where rho vanishes but
        # L rho does not, to which |L_loc|^2 is blind (a collapsed rho can look converged to the L2 estimate)
        m = min(256, x.shape[0])
        c2, aux2 = make_cost(state.log_value, lind, estimator="ldagl").value(theta, x[:m], lq[:m])
        c1, aux1 = costs.value(theta, x[:m], lq[:m])
        info["final_cost_subset_l2"] = float(c1)
        info["final_cost_subset_ldagl"] = float(c2)
        warnings.append(collapse_warning(c1, aux1, c2, aux2))
    if any(warnings):
        info["warning"] = "; ".join(w for w in warnings if w)
    observer.reset()
    rows, oinfo = observer(theta, cfg["obs_samples"], ko, cfg["n_discard"])
    info["observable_sampler"] = oinfo
    info["observe_time_s"] = time.perf_counter() - t0
    info["iterations"] = iters
    if any("accepted" in r for r in rows_hist):
        info["accepted_steps"] = int(sum(bool(r.get("accepted", True)) for r in rows_hist))
    times = [r["time_s"] for r in rows_hist[1:]]  # the first iteration compiles; resumed ones count too
    info["time_per_iteration_s"] = float(np.median(times)) if times else None
    if n <= cfg["eig_max_sites"]:
        info.update(rho_spectrum(costs.log_rho, theta, n, chunk=observer.chunk, parity_sector=sector))
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
