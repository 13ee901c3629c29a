"""Method `rnn_tdvp` (reh2021): POVM dynamics p(a, t) by a TDVP with an autoregressive RNN.

The state is nets.rnn.POVMRNN, initialised to the exact POVM distribution of task.initial (plus
`init_noise`). Every integrator stage draws `n_samples` fresh exact samples (ancestral sampling, no
chains), and solves S theta_dot = F (povm_tdvp, variational.tdvp) with the chosen regularisation.
Observables at save times come from `obs_samples` further exact samples, with standard errors.
History, one row per accepted step: t, dt, the stage-one TDVP residual, condition, cut-off count,
kept fraction, the adaptive step's error and rejections, seconds per step. Checkpoints at save times
hold theta, the random key and the history, so that a resumed run gives the same result.

`lindblad-nqs methods rnn_tdvp` lists every key.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ..methods import Key, Result, RunContext, register
from ..spec import RunSpec, SpecError

DEFAULTS = {
    "cell": Key("gru", str, "recurrent cell: gru, lstm, or elu (h' = elu(U h + W onehot(a_prev) + b))",
                choices=("gru", "lstm", "elu")),
    "hidden": Key(10, int, "hidden units of each recurrent layer", minimum=1),
    "depth": Key(1, int, "stacked recurrent layers", minimum=1),
    "povm": Key("tetrahedral", str, "single-site POVM", choices=("tetrahedral", "pauli4")),
    "n_samples": Key(2000, int, "exact samples per integrator stage", minimum=1),
    "integrator": Key("heun", str, "rk4 (fixed step task.dt) or adaptive heun (first step task.dt)",
                      choices=("rk4", "heun")),
    "tol": Key(1e-2, float, "adaptive Heun tolerance of the step error in the metric S", positive=True),
    "dt_min": Key(1e-5, float, "smallest adaptive step", positive=True),
    "dt_max": Key(0.0, float, "largest adaptive step (0: the save interval)", minimum=0.0),
    "regularization": Key("snr", str, "linear solve of S theta_dot = F",
                          choices=("shift", "pinv", "soft", "snr")),
    "diag_shift": Key(0.0, float, "diagonal shift of S", minimum=0.0),
    "rcond": Key(1e-6, float, "relative eigenvalue cut-off of S", minimum=0.0),
    "snr_tol": Key(2.0, float, "signal-to-noise cut-off (jVMC's)", minimum=0.0),
    "float64": Key(True, bool, "double precision"),
    "init_noise": Key(0.0, float, "standard deviation of the first input kernel at the product state "
                      "(0: the initial distribution is the product state exactly)", minimum=0.0),
    # the paper averages over translations; without them a periodic chain's wrap bond lies N - 1 steps apart
    # on the autoregressive path and the TDVP misses 9-25 % of L p (benchmarks/README.md, rnn_tdvp)
    "symmetry": Key("translations", str, "average p over the lattice's translations, over all its symmetries "
                    "(translations, reflections, rotations), or not at all",
                    choices=("translations", "all", "none")),
    "prefix": Key(True, bool, "evaluate each connected string from its sample's prefix along the RNN's path "
                  "(the same values to roundoff, fewer recurrent steps); false: each through the whole network"),
    "exact_sums": Key(False, bool, "sum over all 4^N outcomes weighted by p instead of sampling (tiny N; checks)"),
    "obs_samples": Key(10000, int, "exact samples for the observables at save times", minimum=2),
}


def _check(spec: RunSpec) -> dict:
    p = dict(spec.params)
    if p["regularization"] == "shift" and not p["diag_shift"] > 0:
        raise SpecError("method.regularization shift needs method.diag_shift > 0")
    if p["exact_sums"] and p["regularization"] == "snr":
        raise SpecError("method.exact_sums has no sampling noise for regularization snr to cut: use soft, pinv "
                        "or shift")
    if p["regularization"] != "shift" and not p["rcond"] > 0:
        raise SpecError(f"method.regularization {p['regularization']} needs method.rcond > 0")
    return p


def build_state(lattice, p: dict, initial: str, seed: int):
    import jax
    import jax.numpy as jnp

    from ..nets.rnn import POVMRNN
    from ..povm.frames import get_povm
    from ..variational.state import FlatState

    n = lattice.n_sites
    q = get_povm(p["povm"]).product_probabilities(initial)
    # a square lattice is read along the row snake, so that consecutive sites of the path are neighbours
    order = tuple(int(i) for i in lattice.snake_ordering(0, False)) if lattice.dim == 2 else None
    perms = {"translations": lambda: lattice.translation_permutations, "all": lambda: lattice.symmetry_permutations,
             "none": lambda: None}[p["symmetry"]]()  # only the group asked for is built
    sym = None if perms is None or len(perms) == 1 else tuple(tuple(int(i) for i in g) for g in perms)
    module = POVMRNN(n_sites=n, hidden=p["hidden"], depth=p["depth"], cell=p["cell"], product=tuple(q),
                     init_noise=p["init_noise"], order=order, symmetries=sym,
                     dtype=jnp.float64 if p["float64"] else jnp.float32)
    x0 = jnp.zeros((1, n), jnp.int8)
    params = module.init(jax.random.key(seed + 7919), x0)
    return module, params, FlatState.from_module(module, params, x0)


def run_povm_evolution(system, p: dict, observables, *, initial: str, save_times, dt0: float, seed: int,
                       checkpointer=None, progress: bool = False, on_theta=None):
    import jax
    import jax.numpy as jnp

    from ..nets.rnn import POVMRNN
    from ..povm.frames import get_povm
    from ..povm.lindbladian import POVMLindbladian
    from ..povm.observables import estimate
    from ..povm_tdvp import POVMApplier, make_rhs, make_stage
    from ..variational import tdvp
    from ..variational.integrators import evolve

    n = system.n_sites
    povm = get_povm(p["povm"])
    module, _, state = build_state(system.lattice, p, initial, seed)
    applier = POVMApplier(POVMLindbladian(system, povm))
    opts = tdvp.TDVPOptions(p["regularization"], p["diag_shift"], p["rcond"], p["snr_tol"])
    rhs = make_rhs(state, applier, opts, module if p["prefix"] else None)
    stage = make_stage(module, state, applier, opts, p["n_samples"], prefix=p["prefix"])
    # the strings only: the observables need no log p, and with the symmetry average the samples' log p
    # costs |G| passes (measured 10x the sampling itself for 50000 samples of the quick Fig. 3 chain)
    sample_fn = jax.jit(lambda th, k, B: module.apply(state.unravel(th), k, B, method=POVMRNN.sample)[0],
                        static_argnums=2)

    st = {"theta": jnp.asarray(state.theta0), "t": float(save_times[0]), "dt": float(dt0),
          "key": np.asarray(jax.random.key_data(jax.random.key(seed))), "step": 0, "evals": 0, "eval_s": 0.0}
    hist_rows, rows, info = [], [], {"n_params": state.n_params, "n_connected": applier.n_connected}
    loaded = checkpointer.load() if checkpointer is not None else None
    if loaded is not None:
        arrays, meta = loaded
        st.update(theta=jnp.asarray(arrays["theta"]), key=np.asarray(arrays["key"]), t=meta["t"], dt=meta["dt"],
                  step=meta["step"])
        hist_rows, rows = meta["history"], [tuple(r) for r in meta["rows"]]
        info["resumed_from_t"] = st["t"]

    def next_key():
        k = jax.random.wrap_key_data(jnp.asarray(st["key"]))
        k, sub = jax.random.split(k)
        st["key"] = np.asarray(jax.random.key_data(k))
        return sub

    if p["exact_sums"]:
        from ..povm.lindbladian import all_strings

        every = jnp.asarray(all_strings(n), jnp.int8)

    def f(theta, t, report=True):
        t0 = time.perf_counter()
        report = tdvp.stage_report(report, opts)
        if p["exact_sums"]:
            w = jnp.exp(state.log_value(theta, every))
            theta_dot, A, d = rhs(theta, every, w / jnp.sum(w), report=report)
            finite = jnp.all(jnp.isfinite(theta_dot))
        else:
            theta_dot, A, d, finite = stage(theta, next_key(), report=report)
        finite = bool(finite)  # the one host sync of a stage
        st["evals"] += 1
        if st["evals"] > 1:  # the first call compiles
            st["eval_s"] += time.perf_counter() - t0
        if not finite:
            raise FloatingPointError(f"the TDVP update is not finite at t = {t:.6g} (try regularization shift "
                                     "with a diag_shift, a larger rcond, or more samples)")
        return theta_dot, (lambda v: jnp.linalg.norm(A @ v)), d

    t_wall = [time.perf_counter()]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=float(save_times[-1]), initial=st["t"], desc="rnn_tdvp", unit="t")

    def on_step(t, res):
        st["step"] += 1
        d = res.diag
        now = time.perf_counter()
        hist_rows.append({"step": st["step"], "t": float(t), "dt": float(res.dt), "residual": float(d["residual"]),
                          "condition": float(d["condition"]), "cut": int(d["cut"]), "kept": float(d["kept"]),
                          "error": float(res.error), "rejected": int(res.rejected), "time_s": now - t_wall[0]})
        t_wall[0] = now
        if bar is not None:
            bar.update(t - bar.n)

    def on_save(t, theta, dt_next):
        a = np.asarray(sample_fn(theta, next_key(), p["obs_samples"]), np.int64)
        for o in observables:
            v, e = estimate(povm, o, a)
            rows.append((float(t), o.name, v, e))
        if hist_rows and hist_rows[-1]["t"] == float(t):
            hist_rows[-1].update({f"obs_{r[1]}": r[2] for r in rows[-len(observables):]} if observables else {})
        st.update(theta=theta, t=float(t), dt=float(dt_next))
        if on_theta is not None:
            on_theta(float(t), theta)
        if checkpointer is not None:
            checkpointer.save({"theta": np.asarray(theta), "key": st["key"]},
                              {"t": float(t), "dt": float(dt_next), "step": st["step"], "history": hist_rows,
                               "rows": rows})

    if loaded is None:
        on_save(float(save_times[0]), st["theta"], st["dt"])
    theta, _ = evolve(f, st["theta"], st["t"], save_times, st["dt"], integrator=p["integrator"], tol=p["tol"],
                      dt_min=p["dt_min"], dt_max=p["dt_max"] or None, on_step=on_step, on_save=on_save)
    if bar is not None:
        bar.close()
    hist = pd.DataFrame(hist_rows)
    info.update(steps=int(st["step"]), evaluations=int(st["evals"]),
                rejected_steps=int(hist["rejected"].sum()) if "rejected" in hist else 0,
                seconds_per_evaluation=st["eval_s"] / (st["evals"] - 1) if st["evals"] > 1 else None)
    return rows, hist, info, theta


@register("rnn_tdvp", DEFAULTS, tasks=("dynamics",), uses_gpu=True, framework="jax")
def solve(spec: RunSpec, ctx: RunContext) -> Result:
    import jax

    from ..checkpoint import Checkpointer, fingerprint
    from ..compile_cache import enable_compilation_cache

    p = _check(spec)
    task = spec.task
    enable_compilation_cache()
    with jax.enable_x64(bool(p["float64"])):
        # volatile: how many samples measure the observables, and t_final (a longer run continues)
        ckpt = Checkpointer(ctx.state_dir / "checkpoint.npz", fingerprint(spec.raw, (), ("t_final",)))
        rows, hist, info, _ = run_povm_evolution(spec.system, p, list(spec.observables), initial=task.initial,
                                                 save_times=task.save_times, dt0=task.dt, seed=spec.seed,
                                                 checkpointer=ckpt, progress=ctx.progress)
    info = {"ansatz": f"rnn_{p['cell']}", "initial": task.initial, "float64": bool(p["float64"]), **info}
    return Result(rows, info, hist)


check_spec = _check  # validate and the workflow run the method checks
