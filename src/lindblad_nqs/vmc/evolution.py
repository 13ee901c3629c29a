"""Time-dependent VMC of a density matrix (Hartmann & Carleo 2019, Eq. 8): S a_dot = f from samples.

Per integrator stage one batch of doubled samples from p(l, r) = |rho(l, r)|^2 (Metropolis chains that
continue from stage to stage) gives the log-derivatives O_k and L_loc = (L rho)/rho; the shared TDVP
(variational.tdvp) solves for a_dot with the chosen regularisation. Observables come from a second set
of chains on the diagonal q(l) = rho(l, l) (vmc.observables). The Z-parity sector restricts the doubled
moves only when the Liouvillian conserves parity *and* the initial state lies in the sector
parity(ket) = parity(bra) (a z product state); from x or y product states rho has weight everywhere.

History, one row per accepted step: t, dt, the stage-one TDVP residual |A a_dot - b|^2/|b|^2, the
condition of the kept spectrum of S, the cut-off count, delta_L = <|L_loc|>_p (Eq. 18), acceptance, the
adaptive step's error and rejections, and every `track_every` steps the tracked magnetisation from a
small diagonal sample. At save times: the observables (rows of the result), and for N <= exact_max_sites
the matrix-element deviation delta_rho = |rho - rho_exact|^2 / 4^N (Eq. 16) against the spine's exact
rho(t), with the tracked observables of rho_exact beside it (columns exact_*), in the history row of
the step that reached the save time. Checkpoints at save times hold everything a resume needs to continue the same random stream.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from ..checkpoint import Checkpointer


@dataclass
class Evolution:
    rows: list  # (t, observable, value, stderr)
    history: pd.DataFrame
    info: dict = field(default_factory=dict)


def samples_per_chain(n_samples: int, n_chains: int) -> int:
    """Samples each chain draws per stage: n_samples rounded up to a multiple of n_chains."""
    return max(1, -(-n_samples // n_chains))


def sector_for_dynamics(system, initial: str, requested: bool = True) -> bool:
    """Restrict doubled moves to parity(ket) = parity(bra) only if L conserves it and rho(0) lies there."""
    return bool(requested) and system.conserves_z_parity() and initial in ("z+", "z-")


def run_evolution(system, state, cfg: dict, observables, *, initial: str, save_times, dt0: float, seed: int,
                  checkpointer: Checkpointer, tracked=("sz",), exact_rhos=None, progress: bool = False,
                  log_ratio_connected=None, log_abs_rho=None) -> Evolution:
    """log_ratio_connected(theta, x, y, changed_sites) -> (B, M): log rho(y) - log rho(x) of the connected
    configurations y (B, M, N) of x (B, N) in digits, where the network has a shortcut
    (nets.rbm_dm.log_rho_ratio_connected); None: each connected configuration through state.log_value. log_abs_rho(theta, x) -> (B,) Re log rho,
    where the network has it cheaper than log rho, drives the chains on |rho|^2 (None: state.log_value)."""
    import jax
    import jax.numpy as jnp

    from ..variational import tdvp
    from ..variational.integrators import evolve
    from .driver import dense_rho
    from .local_estimator import LocalLiouvillian
    from .observables import estimate
    from .sampling import PRNG_IMPL, MetropolisSampler, prng_key

    n = system.n_sites
    real = jnp.real(state.theta0).dtype
    lind = LocalLiouvillian(system, dtype=np.complex128 if real == jnp.float64 else np.complex64)
    sector = sector_for_dynamics(system, initial, cfg["sector"])
    n_chains = cfg["n_chains"]
    per_chain = samples_per_chain(cfg["n_samples"], n_chains)
    sampler = MetropolisSampler(log_abs_rho or state.log_value, n, n_chains, "doubled", 2.0, sector,
                                cfg["sweep"] or None)
    diag = MetropolisSampler(state.log_value, n, cfg["obs_chains"], "diagonal", 1.0)
    opts = tdvp.TDVPOptions(cfg["regularization"], cfg["diag_shift"], cfg["rcond"], cfg["snr_tol"])
    obs_names = [o.name for o in observables]
    tracked = [o for o in observables if o.name in set(tracked)]

    changed = lind.op.changed_sites
    chunk = cfg.get("chunk", 0)
    streamed = bool(chunk) and per_chain * n_chains > chunk

    @partial(jax.jit, static_argnames="report")
    def rhs_from_samples(theta, x, tables, report=True):
        def local(xc):
            log_rho = lambda xx: state.log_value(theta, xx)  # noqa: E731
            if log_ratio_connected is None:
                return lind.local_values(log_rho, xc, log_rho(xc), tables)
            # L_loc needs only rho(y) / rho(x): given as the ratio, rho(x) itself stands at log 1 = 0
            return lind.local_values(log_rho, xc, jnp.zeros(xc.shape[0], lind.dtype), tables,
                                     log_rho_connected=lambda d, y: log_ratio_connected(theta, d, y, changed))

        if streamed:  # the connected configurations of 1e6 samples would not fit in memory either
            theta_dot, S, d = tdvp.solve_streamed(lambda xc: (state.jacobian(theta, xc), local(xc)), x, opts, chunk,
                                                  report=report)
            d["delta_L"] = d.pop("mean_abs_E")
            return theta_dot, S, d
        E = local(x)
        theta_dot, A, d = tdvp.solve(state.jacobian(theta, x), E, opts, report=report)
        d["delta_L"] = jnp.mean(jnp.abs(E))
        return theta_dot, A, d

    st = {"theta": jnp.asarray(state.theta0), "t": float(save_times[0]), "dt": float(dt0), "key": prng_key(seed),
          "obs_key": prng_key(seed + 104729), "step": 0}
    hist_rows, rows, info = [], [], {"sector_restricted": sector, "n_params": state.n_params}
    loaded = checkpointer.load()
    if loaded is not None:
        arrays, meta = loaded
        st.update(theta=jnp.asarray(arrays["theta"]), t=meta["t"], dt=meta["dt"], step=meta["step"],
                  key=jax.random.wrap_key_data(jnp.asarray(arrays["key"]), impl=PRNG_IMPL),
                  obs_key=jax.random.wrap_key_data(jnp.asarray(arrays["obs_key"]), impl=PRNG_IMPL))
        chain, dchain = jnp.asarray(arrays["chain"]), jnp.asarray(arrays["diag_chain"])
        hist_rows, rows = meta["history"], [tuple(r) for r in meta["rows"]]
        info["resumed_from_t"] = st["t"]
    else:
        st["key"], k0, k1 = jax.random.split(st["key"], 3)
        chain = sampler.init_state(k0)
        dchain = diag.init_state(k1)
        chain = sampler.sample(st["theta"], chain, k0, per_chain, cfg["n_discard"])[0]
        dchain = diag.sample(st["theta"], dchain, k1, max(2, cfg["track_samples"] // cfg["obs_chains"]),
                             cfg["n_discard"])[0]
    sampler_state = {"chain": chain, "diag": dchain}

    def f(theta, t, report=True):
        st["key"], k = jax.random.split(st["key"])
        sampler_state["chain"], batch = sampler.sample(theta, sampler_state["chain"], k, per_chain)
        # a stage whose diagnostics the integrator drops skips the spectrum of S
        theta_dot, M, d = rhs_from_samples(theta, batch.x.reshape(-1, 2, n), lind.tables,
                                           report=tdvp.stage_report(report, opts))
        if not bool(jnp.all(jnp.isfinite(theta_dot))):
            raise FloatingPointError(f"the TDVP update is not finite at t = {t:.6g} (try a larger diag_shift "
                                     "or rcond, or more samples)")
        d = dict(d, acceptance=batch.acceptance)
        # the metric norm |v|_S: from S itself when streamed, else from its square root A (S = A^T A),
        # evaluated only by the adaptive integrator
        metric = (lambda v: jnp.sqrt(jnp.maximum(v @ M @ v, 0.0))) if streamed else (lambda v: jnp.linalg.norm(M @ v))
        return theta_dot, metric, d

    def observe(theta, n_samples, key):
        per = max(2, -(-n_samples // cfg["obs_chains"]))
        sampler_state["diag"], batch = diag.sample(theta, sampler_state["diag"], key, per, 2)
        res, _ = estimate(state.log_value, theta, np.asarray(batch.x), np.asarray(batch.log_rho),
                          observables if n_samples == cfg["obs_samples"] else tracked,
                          parity_sector=sector)
        return res

    t_wall = [time.perf_counter(), time.process_time()]
    cpu_steps = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=float(save_times[-1]), initial=st["t"], desc="rbm_tdvp", unit="t")

    def on_step(t, res):
        st["step"] += 1
        d = res.diag
        row = {"step": st["step"], "t": t, "dt": res.dt, "residual": float(d["residual"]),
               "condition": float(d["condition"]), "cut": int(d["cut"]), "kept": float(d["kept"]),
               "delta_L": float(d["delta_L"]), "acceptance": float(d["acceptance"]),
               "error": res.error, "rejected": res.rejected}
        if tracked and st["step"] % cfg["track_every"] == 0:
            o = observe(res.theta, cfg["track_samples"], jax.random.fold_in(st["obs_key"], st["step"]))
            row.update({name: o[name][0] for name in (t_.name for t_ in tracked)})
        now = [time.perf_counter(), time.process_time()]
        row["time_s"] = now[0] - t_wall[0]
        cpu_steps.append(now[1] - t_wall[1])  # on a shared machine the CPU time is the one that compares
        t_wall[:] = now
        hist_rows.append(row)
        if bar is not None:
            bar.update(t - bar.n)

    exact_by_t = {} if exact_rhos is None else {round(float(t), 9): r for t, r in exact_rhos}

    def measure(t, theta):
        o = observe(theta, cfg["obs_samples"], jax.random.fold_in(st["obs_key"], 2**30 + len(rows)))
        rho_e = exact_by_t.get(round(float(t), 9))
        if rho_e is not None:
            rho = dense_rho(state.log_value, theta, n, parity_sector=sector)
            if not hist_rows or hist_rows[-1]["t"] != t:
                hist_rows.append({"step": st["step"], "t": float(t)})
            hist_rows[-1]["delta_rho"] = float(np.sum(np.abs(rho - rho_e) ** 2) / 4**n)
            hist_rows[-1].update({f"exact_{k}": v for k, v in exact_obs(rho_e).items()})
        return [(float(t), name, float(o[name][0]), float(o[name][1])) for name in obs_names]

    def exact_obs(rho_e):
        from ..exact.dynamics import dense_expect
        from ..observables import evaluate

        ex = dense_expect(rho_e, n)
        return {o.name: evaluate(o, ex) for o in tracked}

    def on_save(t, theta, dt_next):
        rows.extend(measure(t, theta))
        st.update(theta=theta, t=float(t), dt=float(dt_next))
        checkpointer.save({"theta": np.asarray(theta), "key": np.asarray(jax.random.key_data(st["key"])),
                           "obs_key": np.asarray(jax.random.key_data(st["obs_key"])),
                           "chain": np.asarray(sampler_state["chain"]), "diag_chain": np.asarray(sampler_state["diag"])},
                          {"t": float(t), "dt": float(dt_next), "step": st["step"], "history": hist_rows,
                           "rows": rows})

    if loaded is None:
        on_save(float(save_times[0]), st["theta"], st["dt"])
    theta, _ = evolve(f, st["theta"], st["t"], save_times, st["dt"], integrator=cfg["integrator"], tol=cfg["tol"],
                      dt_min=cfg["dt_min"], dt_max=cfg["dt_max"] or None, on_step=on_step, on_save=on_save)
    if bar is not None:
        bar.close()
    hist = pd.DataFrame(hist_rows)
    times = hist["time_s"].dropna().to_numpy()[1:] if "time_s" in hist else []
    info.update(steps=int(st["step"]), rejected_steps=int(hist["rejected"].sum()) if "rejected" in hist else 0,
                time_per_step_s=float(np.median(times)) if len(times) else None,
                cpu_per_step_s=float(np.median(cpu_steps[1:])) if len(cpu_steps) > 1 else None,
                final_delta_L=float(hist["delta_L"].dropna().iloc[-1]) if "delta_L" in hist else None)
    return Evolution(rows, hist, info)
