"""Method `rbm_tdvp` (hartmann2019): the RBM density matrix of nets.rbm_dm evolved by time-dependent VMC.

dynamics : from task.initial (a product state, exact in the ansatz) to task.t_final; task.dt is the
           fixed RK4 step, or the first step of the adaptive Heun integrator.
steady   : the same evolution from `steady_initial` for `steady_time` (the paper's Fig. 3: the steady
           state as the long-time limit, with delta_L = <|L_loc|> per step as its convergence measure);
           the result rows are the observables at the end.

`lindblad-nqs methods rbm_tdvp` lists every key with its doc.
"""

from __future__ import annotations

import numpy as np

from ..methods import Result, RunContext, register
from ..spec import RunSpec, SpecError

DEFAULTS = {
    "hidden": 8,  # M: hidden units of the row (and, conjugated, column) layer
    "mixing": 8,  # M~: mixing units
    "n_samples": 2000,
    "n_chains": 50,
    "sweep": 0,
    "n_discard": 100,
    "sector": True,
    "integrator": "rk4",
    "tol": 1e-3,
    "dt_min": 1e-7,
    "dt_max": 0.0,
    "regularization": "shift",
    "diag_shift": 1e-5,
    "rcond": 1e-6,
    "snr_tol": 2.0,
    "float64": True,
    "init_noise": 1e-2,
    "bias_std": 1.0,
    "z_bias": 6.0,
    "obs_samples": 8000,
    "obs_chains": 100,
    "track": None,
    "track_every": 10,
    "track_samples": 1000,
    "exact_max_sites": 8,
    "steady_time": 3.0,
    "steady_dt": 0.005,
    "steady_save_every": 0.5,
    "steady_initial": "x+",
}

_CHOICES = {"integrator": ("rk4", "heun"), "regularization": ("shift", "pinv", "soft", "snr"),
            "steady_initial": ("x+", "x-", "y+", "y-", "z+", "z-")}


def _check(spec: RunSpec) -> dict:
    p = dict(spec.params)
    for k, allowed in _CHOICES.items():
        if p[k] not in allowed:
            raise SpecError(f"method.{k} must be one of {', '.join(allowed)}, got {p[k]!r}")
    for k in ("hidden", "mixing", "n_samples", "n_chains", "obs_samples", "obs_chains", "track_every",
              "track_samples"):
        if p[k] < 1:
            raise SpecError(f"method.{k} must be a positive integer, got {p[k]!r}")
    for k in ("tol", "dt_min", "steady_time", "steady_dt", "steady_save_every", "z_bias"):
        if not p[k] > 0:
            raise SpecError(f"method.{k} must be positive, got {p[k]!r}")
    for k in ("diag_shift", "rcond", "init_noise", "bias_std", "dt_max", "sweep", "n_discard", "exact_max_sites"):
        if p[k] < 0:
            raise SpecError(f"method.{k} must be >= 0, got {p[k]!r}")
    if p["regularization"] == "shift" and not p["diag_shift"] > 0:
        raise SpecError("method.regularization shift needs method.diag_shift > 0")
    if p["regularization"] != "shift" and not p["rcond"] > 0:
        raise SpecError(f"method.regularization {p['regularization']} needs method.rcond > 0")
    names = [o.name for o in spec.observables]
    track = p["track"]
    if track is None:
        p["track"] = [t for t in ("sz",) if t in names]
    elif not isinstance(track, list) or any(t not in names for t in track):
        raise SpecError(f"method.track must be a list of observables of the spec ({', '.join(names)}), got {track!r}")
    return p


def _time_grid(spec: RunSpec, p: dict):
    if spec.task.kind == "dynamics":
        return spec.task.initial, spec.task.save_times, spec.task.dt
    n = int(round(p["steady_time"] / p["steady_save_every"]))
    if abs(n * p["steady_save_every"] - p["steady_time"]) > 1e-9 * p["steady_time"]:
        raise SpecError(f"method.steady_time ({p['steady_time']}) must be a multiple of method.steady_save_every "
                        f"({p['steady_save_every']})")
    return p["steady_initial"], np.linspace(0.0, p["steady_time"], n + 1), p["steady_dt"]


def build_state(spec: RunSpec, p: dict, initial: str):
    import jax
    import jax.numpy as jnp

    from ..nets.rbm_dm import RBMDensityMatrix
    from ..vmc.sampling import prng_key
    from ..variational.state import FlatState

    n = spec.system.n_sites
    module = RBMDensityMatrix(n_sites=n, n_hidden=p["hidden"], n_mixing=p["mixing"], initial=initial,
                              z_bias=p["z_bias"], init_noise=p["init_noise"], bias_std=p["bias_std"],
                              dtype=jnp.float64 if p["float64"] else jnp.float32)
    x0 = jnp.zeros((1, 2, n), jnp.int8)
    params = module.init(prng_key(spec.seed + 7919), x0)
    return FlatState.from_module(module, params, x0)


@register("rbm_tdvp", DEFAULTS, tasks=("dynamics", "steady"), uses_gpu=True)
def solve(spec: RunSpec, ctx: RunContext) -> Result:
    import jax

    from ..checkpoint import Checkpointer, fingerprint
    from .steady_l2 import enable_compilation_cache

    p = _check(spec)
    initial, save_times, dt0 = _time_grid(spec, p)
    n = spec.system.n_sites
    enable_compilation_cache()
    with jax.enable_x64(bool(p["float64"])):
        from ..vmc.evolution import run_evolution

        state = build_state(spec, p, initial)
        exact_rhos = None
        if n <= p["exact_max_sites"]:
            from ..exact.dynamics import evolve_sector

            exact_rhos = list(evolve_sector(spec.system, initial, save_times))
        # volatile: the observation settings, and t_final (a longer run continues a shorter one's checkpoint)
        fp = fingerprint(spec.raw, ("obs_samples", "obs_chains", "track", "track_every", "track_samples",
                                    "exact_max_sites", "steady_time"), ("t_final",))
        ckpt = Checkpointer(ctx.state_dir / "checkpoint.npz", fp)
        ev = run_evolution(spec.system, state, p, list(spec.observables), initial=initial, save_times=save_times,
                           dt0=dt0, seed=spec.seed, checkpointer=ckpt, tracked=p["track"], exact_rhos=exact_rhos,
                           progress=ctx.progress)
    rows = ev.rows
    if spec.task.kind == "steady":
        t_end = float(save_times[-1])
        rows = [(None, name, v, e) for t, name, v, e in rows if t == t_end and name != "delta_rho"]
    info = {"ansatz": "rbm_dm", "n_complex_params": state.n_params // 2, "initial": initial,
            "float64": bool(p["float64"]), **ev.info}
    return Result(rows, info, ev.history)
check_spec = _check  # validate and the workflow run the method checks
