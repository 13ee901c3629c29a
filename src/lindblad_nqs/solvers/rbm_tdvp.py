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

from ..methods import Key, Result, RunContext, register
from ..model import PRODUCT_STATES
from ..spec import RunSpec, SpecError

DEFAULTS = {
    "hidden": Key(8, int, "M: hidden units of the row layer (the column layer carries their conjugates)", minimum=1),
    "mixing": Key(8, int, "M~: mixing units coupling rows and columns", minimum=1),
    "n_samples": Key(2000, int, "Metropolis samples of p(l, r) = |rho(l, r)|^2 per integrator stage", minimum=1),
    "n_chains": Key(50, int, "Markov chains, continued from stage to stage", minimum=1),
    "sweep": Key(0, int, "proposals between kept samples (0: 2N)", minimum=0),
    "n_discard": Key(100, int, "burn-in sweeps at the start of the run", minimum=0),
    "sector": Key(True, bool, "restrict moves to the Z-parity sector when L conserves it and the initial state "
                  "lies in it (z product states only)"),
    "integrator": Key("rk4", str, "rk4: fixed step task.dt; heun: adaptive RK2, first step task.dt",
                      choices=("rk4", "heun")),
    "tol": Key(1e-3, float, "adaptive Heun: tolerance of the step error in the metric S", positive=True),
    "dt_min": Key(1e-7, float, "adaptive Heun: smallest step", positive=True),
    "dt_max": Key(0.0, float, "adaptive Heun: largest step (0: the save interval)", minimum=0),
    "regularization": Key("shift", str, "solve of S a_dot = f: diagonal shift, pseudo-inverse cut-off, soft "
                          "eigenvalue cut-off, or jVMC's signal-to-noise cut-off",
                          choices=("shift", "pinv", "soft", "snr")),
    "diag_shift": Key(1e-5, float, "regularization shift: shift added to the diagonal of S", minimum=0),
    "rcond": Key(1e-6, float, "pinv/soft/snr: eigenvalue cut-off relative to the largest", minimum=0),
    "snr_tol": Key(2.0, float, "snr: signal-to-noise ratio below which a mode is cut", positive=True),
    "chunk": Key(20000, int, "samples per Jacobian chunk: above it S and F are accumulated chunk by chunk "
                 "(memory O(chunk P + P^2), for the paper's 1e6 samples; not with snr); 0: all at once",
                 minimum=0),
    "analytic": Key(True, bool, "O_k in closed form, connected configurations from the sample's activations and "
                    "the changed sites, and the chains on |rho|^2 from Re log rho in real arithmetic (False: autodiff "
                    "Jacobian, a full evaluation per connected configuration, complex log rho; the same values to "
                    "roundoff)"),
    "float64": Key(True, bool, "double precision (time evolution is far more sensitive to roundoff than a "
                   "minimisation)"),
    "init_noise": Key(1e-2, float, "standard deviation of the noise on the coupling weights at t = 0", minimum=0),
    "bias_std": Key(1.0, float, "scale of the random hidden biases at t = 0", minimum=0),
    "z_bias": Key(6.0, float, "visible bias of a z product state (exact to exp(-2 z_bias) in amplitude)",
                  positive=True),
    "obs_samples": Key(8000, int, "samples of q(l) = rho(l, l) for the observables at save times", minimum=1),
    "obs_chains": Key(100, int, "chains of the observable sampler", minimum=1),
    "track": Key(None, list, "observables tracked during the run (default: sz if the spec has it)", nullable=True),
    "track_every": Key(10, int, "steps between tracked points", minimum=1),
    "track_samples": Key(1000, int, "samples of each tracked point", minimum=1),
    "exact_max_sites": Key(8, int, "up to this N, the exact rho(t) and delta_rho (Eq. 16) at save times",
                           minimum=0),
    "steady_time": Key(3.0, float, "task steady: evolution time", positive=True),
    "steady_dt": Key(0.005, float, "task steady: (first) time step", positive=True),
    "steady_save_every": Key(0.5, float, "task steady: interval of the saved observables", positive=True),
    "steady_initial": Key("x+", str, "task steady: initial product state", choices=tuple(PRODUCT_STATES)),
}


def _check(spec: RunSpec) -> dict:
    p = dict(spec.params)
    if p["regularization"] == "shift" and not p["diag_shift"] > 0:
        raise SpecError("method.regularization shift needs method.diag_shift > 0")
    if p["regularization"] != "shift" and not p["rcond"] > 0:
        raise SpecError(f"method.regularization {p['regularization']} needs method.rcond > 0")
    from ..vmc.evolution import samples_per_chain

    drawn = samples_per_chain(p["n_samples"], p["n_chains"]) * p["n_chains"]  # what the stage draws
    if p["chunk"] and drawn > p["chunk"]:
        if drawn % p["chunk"]:
            raise SpecError(f"method.n_samples ({drawn} drawn by {p['n_chains']} chains) must be a multiple of "
                            f"method.chunk ({p['chunk']}) when it exceeds it")
        if p["regularization"] == "snr":
            raise SpecError(f"method.regularization snr needs every sample's contribution: n_samples ({drawn}) "
                            f"must not exceed method.chunk ({p['chunk']})")
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

    from ..nets.rbm_dm import RBMDensityMatrix, log_derivatives
    from ..vmc.sampling import prng_key
    from ..variational.state import FlatState

    n = spec.system.n_sites
    module = RBMDensityMatrix(n_sites=n, n_hidden=p["hidden"], n_mixing=p["mixing"], initial=initial,
                              z_bias=p["z_bias"], init_noise=p["init_noise"], bias_std=p["bias_std"],
                              dtype=jnp.float64 if p["float64"] else jnp.float32)
    x0 = jnp.zeros((1, 2, n), jnp.int8)
    params = module.init(prng_key(spec.seed + 7919), x0)
    return FlatState.from_module(module, params, x0, log_derivatives=log_derivatives if p["analytic"] else None)


@register("rbm_tdvp", DEFAULTS, tasks=("dynamics", "steady"), uses_gpu=True, framework="jax")
def solve(spec: RunSpec, ctx: RunContext) -> Result:
    import jax

    from ..checkpoint import Checkpointer, fingerprint
    from ..compile_cache import enable_compilation_cache

    p = _check(spec)
    initial, save_times, dt0 = _time_grid(spec, p)
    n = spec.system.n_sites
    enable_compilation_cache()
    with jax.enable_x64(bool(p["float64"])):
        from ..nets.rbm_dm import log_abs_rho, log_rho_ratio_connected
        from ..vmc.evolution import run_evolution

        state = build_state(spec, p, initial)
        connected = abs_rho = None
        if p["analytic"]:
            def connected(theta, x, y, changed):
                return log_rho_ratio_connected(state.unravel(theta), x, y, changed)

            def abs_rho(theta, x):
                return log_abs_rho(state.unravel(theta), x)
        exact_rhos = None
        if n <= p["exact_max_sites"]:
            from ..exact.dynamics import evolve_sector

            exact_rhos = list(evolve_sector(spec.system, initial, save_times))
        # only the length may differ (a longer run continues a shorter one's checkpoint): the rows and
        # history saved so far were measured with the observation settings, so changing those starts afresh
        fp = fingerprint(spec.raw, ("steady_time",), ("t_final",))
        ckpt = Checkpointer(ctx.state_dir / "checkpoint.npz", fp)
        ev = run_evolution(spec.system, state, p, list(spec.observables), initial=initial, save_times=save_times,
                           dt0=dt0, seed=spec.seed, checkpointer=ckpt, tracked=p["track"], exact_rhos=exact_rhos,
                           progress=ctx.progress, log_ratio_connected=connected,
                           log_abs_rho=abs_rho)
    rows = ev.rows
    if spec.task.kind == "steady":
        t_end = float(save_times[-1])
        rows = [(None, name, v, e) for t, name, v, e in rows if t == t_end and name != "delta_rho"]
    info = {"ansatz": "rbm_dm", "n_complex_params": state.n_params // 2, "initial": initial,
            "float64": bool(p["float64"]), **ev.info}
    return Result(rows, info, ev.history)
check_spec = _check  # validate and the workflow run the method checks
