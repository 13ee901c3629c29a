"""Time per TDVP evaluation of rnn_tdvp (one integrator stage: exact samples, Jacobian, POVM local values,
regularised solve) vs N and samples, and jVMC 1.5.8 beside it on the same problem in the same run.

    python benchmarks/bench_rnn_tdvp.py [--sizes 6 10 16] [--samples 500 2000 8000] [--hidden 10]
                                        [--repeat 5] [--jvmc /tmp/jvmc_venv/bin/python] [--split]
                                        [--prefix] [--symmetry translations|all|none]

Model: periodic chain, J = (2, 0, 1), hz = 1, sigma^- at rate 1, from y- (reh2021 Fig. 2a), GRU depth 1,
float64, the method's default regularisation (snr). Each line: N, samples, parameters, connected strings
per sample, median seconds per evaluation after a compiling call, and with --split the parts (sampling,
log p + Jacobian, local values, solve; each jitted on its own, so their sum exceeds the fused stage).
With --jvmc (the python of an environment holding jvmc==1.5.8, e.g. `python3 -m venv /tmp/jvmc_venv &&
/tmp/jvmc_venv/bin/pip install jvmc==1.5.8 mpich`), the chain of 6 with GRU hidden 10 and 2000 samples
runs in both codes, and the ratio is printed: ours at hidden 10 and at hidden 12 (676 parameters, nearest
jVMC's 713 for its hidden-10 GRU), without symmetry against jVMC's plain RNN1DGeneral and with the
translation average (our default) against jVMC's SymNet around it, ours at hidden 10 once more after jVMC
(the machine's load drifts; the ratio at hidden 10 is to the mean of the two).
With --prefix, each (N, samples) point times one evaluation and its local values with every connected
string through the whole RNN (old) and from its sample's prefix (new, the default), alternately in one
process, and prints both, their ratio, the local values' share and the largest difference of E.
With --runs SPEC..., each rnn_tdvp run spec is solved old and then new (wall time, s / evaluation, and the
largest difference of the saved observables).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def system_of(n):
    from lindblad_nqs.spec import parse_system

    return parse_system({"lattice": {"shape": [n], "boundary": "periodic"},
                         "preset": {"name": "heisenberg", "Jx": 2.0, "Jy": 0.0, "Jz": 1.0, "B": 1.0, "gamma": 1.0}})


def _median_time(fn, repeat):
    import jax

    jax.block_until_ready(fn())  # compiles
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def _median_times(fns, repeat):
    """Median seconds of each function, timed in turn within every repeat (the load drifts)."""
    import jax

    for fn in fns:
        jax.block_until_ready(fn())  # compiles
    ts = [[] for _ in fns]
    for _ in range(repeat):
        for fn, t in zip(fns, ts):
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            t.append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in ts]


def bench_prefix(n, ns, hidden, repeat, symmetry="translations"):
    """One TDVP evaluation and its local values with connected strings through the whole network (old)
    and from their sample's prefix (new), timed alternately in one process."""
    import jax

    from lindblad_nqs.methods import get_method
    from lindblad_nqs.nets.rnn import POVMRNN
    from lindblad_nqs.povm.lindbladian import POVMLindbladian
    from lindblad_nqs.povm_tdvp import POVMApplier, connected_log_p, make_stage
    from lindblad_nqs.solvers.rnn_tdvp import build_state
    from lindblad_nqs.variational import tdvp

    system = system_of(n)
    p = dict(get_method("rnn_tdvp").defaults, hidden=hidden, n_samples=ns, symmetry=symmetry)
    module, _, state = build_state(system.lattice, p, "y-", 0)
    applier = POVMApplier(POVMLindbladian(system))
    opts = tdvp.TDVPOptions(p["regularization"], p["diag_shift"], p["rcond"], p["snr_tol"])
    theta = state.theta0 + 0.05 * jax.random.normal(jax.random.key(1), state.theta0.shape, state.theta0.dtype)
    old = make_stage(module, state, applier, opts, ns, prefix=False)
    new = make_stage(module, state, applier, opts, ns, prefix=True)
    key = jax.random.key(2)
    a = jax.jit(lambda th, k: module.apply(state.unravel(th), k, ns, method=POVMRNN.sample)[0])(theta, key)
    loc_old = jax.jit(lambda th, a: applier.local_values(lambda x: state.log_value(th, x), a))
    loc_new = jax.jit(lambda th, a: applier.local_values(lambda x: state.log_value(th, x), a,
                                                          log_f_connected=connected_log_p(module, state, applier, th)))
    dev = float(jax.numpy.max(jax.numpy.abs(loc_old(theta, a) - loc_new(theta, a))))
    s_old, s_new, l_old, l_new = _median_times([lambda: old(theta, key)[0], lambda: new(theta, key)[0],
                                                lambda: loc_old(theta, a), lambda: loc_new(theta, a)], repeat)
    G = 1 if module.symmetries is None else len(module.symmetries)
    return {"N": n, "samples": ns, "params": state.n_params, "connected": applier.n_connected, "group": G,
            "old_s": s_old, "new_s": s_new, "old_local_s": l_old, "new_local_s": l_new, "max_dE": dev}


def fmt_prefix(r):
    return (f"N={r['N']:3d} samples={r['samples']:6d} params={r['params']:5d} connected={r['connected']:4d} "
            f"|G|={r['group']:3d} s/eval old={r['old_s']:.3f} new={r['new_s']:.3f} ratio={r['old_s'] / r['new_s']:.2f} "
            f"local old={r['old_local_s']:.3f} new={r['new_local_s']:.3f} ratio={r['old_local_s'] / r['new_local_s']:.2f} "
            f"share old={r['old_local_s'] / r['old_s']:.2f} new={r['new_local_s'] / r['new_s']:.2f} "
            f"max|dE|={r['max_dE']:.1e}")


def bench_ours(n, ns, hidden, repeat, split=False, overrides=None):
    import jax

    from lindblad_nqs.methods import get_method
    from lindblad_nqs.nets.rnn import POVMRNN
    from lindblad_nqs.povm.lindbladian import POVMLindbladian
    from lindblad_nqs.povm_tdvp import POVMApplier, connected_log_p, make_stage
    from lindblad_nqs.solvers.rnn_tdvp import build_state
    from lindblad_nqs.variational import tdvp

    system = system_of(n)
    p = dict(get_method("rnn_tdvp").defaults, hidden=hidden, n_samples=ns, **(overrides or {}))
    module, _, state = build_state(system.lattice, p, "y-", 0)
    applier = POVMApplier(POVMLindbladian(system))
    opts = tdvp.TDVPOptions(p["regularization"], p["diag_shift"], p["rcond"], p["snr_tol"])
    # a state some way into the evolution, not the product state (whose Jacobian is partly zero)
    theta = state.theta0 + 0.05 * jax.random.normal(jax.random.key(1), state.theta0.shape, state.theta0.dtype)
    stage = make_stage(module, state, applier, opts, ns, prefix=p["prefix"])
    keys = iter(jax.random.split(jax.random.key(2), repeat + 2))
    out = {"N": n, "samples": ns, "params": state.n_params, "connected": applier.n_connected,
           "s_per_eval": _median_time(lambda: stage(theta, next(keys))[0], repeat)}
    if split:
        sample = jax.jit(lambda th, k: module.apply(state.unravel(th), k, ns, method=POVMRNN.sample)[0])
        a = sample(theta, jax.random.key(3))
        jac = jax.jit(lambda th, a: (state.log_value(th, a), state.jacobian(th, a)))
        loc = jax.jit(lambda th, a: applier.local_values(
            lambda x: state.log_value(th, x), a,
            log_f_connected=connected_log_p(module if p["prefix"] else None, state, applier, th)))
        O, E = jac(theta, a)[1], loc(theta, a)
        sol = jax.jit(lambda O, E: tdvp.solve(O, E, opts)[0])
        out.update(sample_s=_median_time(lambda: sample(theta, jax.random.key(3)), repeat),
                   jacobian_s=_median_time(lambda: jac(theta, a), repeat),
                   local_s=_median_time(lambda: loc(theta, a), repeat),
                   solve_s=_median_time(lambda: sol(O, E), repeat))
    return out


def run_jvmc(python, n, hidden, ns, repeat, translations=False):
    script = Path(__file__).with_name("jvmc_tdvp_eval.py")
    r = subprocess.run([python, str(script), "--n", str(n), "--hidden", str(hidden), "--samples", str(ns),
                        "--repeat", str(repeat)] + (["--translations"] if translations else []),
                       capture_output=True, text=True)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode or not lines:
        raise RuntimeError(f"jVMC run failed (rc {r.returncode}): {r.stderr.strip().splitlines()[-1:]}")
    return json.loads(lines[-1])


def bench_runs(paths):
    """Each run spec (a results/runs/.../spec.yaml of rnn_tdvp) solved with prefix false and then true in
    this process, without checkpoints: wall seconds, evaluations, seconds per evaluation, and the largest
    difference of the saved observables between the two."""
    import jax

    from lindblad_nqs.solvers.rnn_tdvp import _check, run_povm_evolution
    from lindblad_nqs.spec import load_yaml, parse_spec

    for path in paths:
        raw = load_yaml(path, "run spec")
        out = {}
        for prefix in (False, True):
            spec = parse_spec(dict(raw, method=dict(raw["method"], prefix=prefix)))
            p, task = _check(spec), spec.task
            with jax.enable_x64(bool(p["float64"])):
                t0 = time.perf_counter()
                rows, hist, info, _ = run_povm_evolution(spec.system, p, list(spec.observables), initial=task.initial,
                                                         save_times=task.save_times, dt0=task.dt, seed=spec.seed)
                out[prefix] = (time.perf_counter() - t0, info, np.array([r[2] for r in rows]))
        (w0, i0, v0), (w1, i1, v1) = out[False], out[True]
        dv = float(np.max(np.abs(v0 - v1))) if v0.shape == v1.shape else float("nan")
        print(f"{path}: wall old={w0:.1f} s new={w1:.1f} s ratio={w0 / w1:.2f}; evaluations old={i0['evaluations']} "
              f"new={i1['evaluations']}; s/eval old={i0['seconds_per_evaluation']:.3f} "
              f"new={i1['seconds_per_evaluation']:.3f}; max |observable old - new| = {dv:.1e}", flush=True)


def fmt(r):
    s = f"N={r['N']:3d} samples={r['samples']:6d} params={r['params']:5d} connected={r['connected']:4d} " \
        f"s/eval={r['s_per_eval']:.4f}"
    for k in ("sample_s", "jacobian_s", "local_s", "solve_s"):
        if k in r:
            s += f" {k[:-2]}={r[k]:.4f}"
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[6, 10, 16])
    ap.add_argument("--samples", type=int, nargs="+", default=[500, 2000, 8000])
    ap.add_argument("--hidden", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--split", action="store_true")
    ap.add_argument("--jvmc", default=None, help="python of the environment with jvmc==1.5.8")
    ap.add_argument("--prefix", action="store_true",
                    help="old (every connected string through the whole RNN) vs new (from its sample's prefix)")
    ap.add_argument("--symmetry", default="translations", choices=("translations", "all", "none"))
    ap.add_argument("--runs", nargs="+", default=None, help="rnn_tdvp run specs to solve old and new (no --sizes)")
    args = ap.parse_args()
    import jax

    jax.config.update("jax_enable_x64", True)
    print(f"jax {jax.__version__} on {jax.default_backend()}", flush=True)
    if args.runs:
        bench_runs(args.runs)
        return
    if args.prefix:
        for n in args.sizes:
            for ns in args.samples:
                print(fmt_prefix(bench_prefix(n, ns, args.hidden, args.repeat, args.symmetry)), flush=True)
        return
    for n in args.sizes:
        for ns in args.samples:
            print(fmt(bench_ours(n, ns, args.hidden, args.repeat, args.split, {"symmetry": args.symmetry})),
                  flush=True)
    if args.jvmc:
        # symmetry none against jVMC's plain RNN1DGeneral, translations against its SymNet around it
        print("side by side: chain of 6, GRU hidden 10, 2000 exact samples", flush=True)
        syms = ("none", "translations")
        ours = {(h, sym): bench_ours(6, 2000, h, args.repeat, overrides={"symmetry": sym})
                for h in (10, 12) for sym in syms}
        jv = {sym: run_jvmc(args.jvmc, 6, 10, 2000, args.repeat, sym == "translations") for sym in syms}
        after = {sym: bench_ours(6, 2000, 10, args.repeat, overrides={"symmetry": sym}) for sym in syms}
        for sym in syms:
            js = jv[sym]["seconds_per_eval"]
            print(f"  symmetry {sym}: {jv[sym]['code']} hidden 10 ({jv[sym]['n_params']} params) {js:.4f} s")
            for h in (10, 12):
                r = ours[(h, sym)]
                extra = f" (after jVMC {after[sym]['s_per_eval']:.4f} s)" if h == 10 else ""
                mean = 0.5 * (r["s_per_eval"] + after[sym]["s_per_eval"]) if h == 10 else r["s_per_eval"]
                print(f"    ours hidden {h} ({r['params']} params) {r['s_per_eval']:.4f} s{extra}"
                      f"  -> jVMC / ours {js / mean:.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
