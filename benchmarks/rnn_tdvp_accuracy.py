"""rnn_tdvp against exact POVM dynamics on the 6-site periodic chain J = (2, 0, 1), B = 1, gamma = 1, from y-.

    python benchmarks/rnn_tdvp_accuracy.py [--t-final 1] [key=value ...]

key=value pairs override the method's defaults (e.g. n_samples=4000 tol=1e-3 regularization=pinv).
Prints the max deviation of sx, sy, sz from exact over the save times, the steps, seconds per
evaluation and the median stage-one TDVP residual. Observables are exact sums over all 4^N strings of
the network's p (no observable sampling noise), so the deviation is the evolution's alone.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def exact_povm(system, p0, times):
    from scipy.sparse.linalg import expm_multiply

    from lindblad_nqs.povm.lindbladian import POVMLindbladian

    L = POVMLindbladian(system).dense()
    return expm_multiply(L, p0, start=times[0], stop=times[-1], num=len(times), endpoint=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--t-final", type=float, default=1.0)
    ap.add_argument("--save-every", type=float, default=0.1)
    ap.add_argument("--dt", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--boundary", default="periodic", choices=("periodic", "open"))
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    import jax

    from lindblad_nqs.methods import get_method
    from lindblad_nqs.observables import parse_observable
    from lindblad_nqs.povm.frames import get_povm
    from lindblad_nqs.povm.lindbladian import all_strings
    from lindblad_nqs.povm.observables import estimate
    from lindblad_nqs.solvers.rnn_tdvp import build_state, run_povm_evolution
    from lindblad_nqs.spec import parse_system

    jax.config.update("jax_enable_x64", True)
    n = args.n
    system = parse_system({"lattice": {"shape": [n], "boundary": args.boundary},
                           "preset": {"name": "heisenberg", "Jx": 2.0, "Jy": 0.0, "Jz": 1.0, "B": 1.0,
                                      "gamma": 1.0}})
    info = get_method("rnn_tdvp")
    p = {k: v.default for k, v in info.keys.items()}
    for kv in args.overrides:
        k, v = kv.split("=", 1)
        p[k] = info.keys[k].type(v) if info.keys[k].type is not bool else v.lower() in ("1", "true", "yes")
    povm = get_povm(p["povm"])
    saves = np.round(np.arange(0, args.t_final + 1e-9, args.save_every), 10)
    obs = [parse_observable(o, system.lattice) for o in ("sx", "sy", "sz")]
    strings = all_strings(n)
    q = povm.product_probabilities("y-")
    p0 = q
    for _ in range(n - 1):
        p0 = np.kron(p0, q)
    ex = exact_povm(system, p0, saves)
    module, _, state = build_state(system.lattice, p, "y-", args.seed)
    thetas = {}

    t0 = time.perf_counter()
    rows, hist, rinfo, _ = run_povm_evolution(system, dict(p, obs_samples=2), obs, initial="y-", save_times=saves,
                                              dt0=args.dt, seed=args.seed, on_theta=thetas.__setitem__)
    wall = time.perf_counter() - t0
    dev = np.zeros((len(saves), 3))
    for i, t in enumerate(saves):
        pn = np.exp(np.asarray(state.log_value(thetas[float(t)], strings)))
        for j, o in enumerate(obs):
            dev[i, j] = estimate(povm, o, strings, pn)[0] - estimate(povm, o, strings, ex[i])[0]
    print(" ".join(f"{k}={v}" for k, v in sorted(p.items()) if k != "obs_samples"))
    for i, t in enumerate(saves):
        print(f"  t={t:5.2f}  dx={dev[i,0]:+.4f} dy={dev[i,1]:+.4f} dz={dev[i,2]:+.4f}")
    print(f"max|dev| t<=1: {np.abs(dev[saves <= 1 + 1e-9]).max():.4f}  all: {np.abs(dev).max():.4f}  "
          f"steps {rinfo['steps']} evals {rinfo['evaluations']} rejected {rinfo['rejected_steps']} "
          f"s/eval {rinfo['seconds_per_evaluation']:.3f} wall {wall:.0f}s "
          f"median residual {hist['residual'].median():.3g} max residual {hist['residual'].max():.3g}")


if __name__ == "__main__":
    main()
