"""How close the RBM density matrix (nets.rbm_dm) can follow exact dynamics, with the Monte Carlo sums of
the TDVP replaced by exact sums over all 4^N doubled configurations (weights |rho|^2): the ansatz and
regularisation limit, without sampling noise. Sweeps M = M~, the coupling noise and hidden-bias spread at t = 0, and the diagonal shift.

    python benchmarks/rbm_tdvp_ansatz_limit.py [--n 4] [--t-final 2] [--hidden 4 8 12 16] [--noise 0.01 0.05] [--shift 1e-5] [--bias-std 1]

The model is the 4-site periodic chain J = (2, 0, 1), B = 1, sigma^- decay, from y- (the rbm_tdvp
defaults' target); prints the largest deviation of sx, sy, sz from exact over the saved times.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--t-final", type=float, default=2.0)
    ap.add_argument("--dt", type=float, default=0.01)
    ap.add_argument("--hidden", type=int, nargs="+", default=[4, 8, 12, 16])
    ap.add_argument("--noise", type=float, nargs="+", default=[0.01])
    ap.add_argument("--shift", type=float, nargs="+", default=[1e-5])
    ap.add_argument("--bias-std", type=float, nargs="+", default=[1.0])
    ap.add_argument("--initial", default="y-")
    args = ap.parse_args()
    import jax
    import jax.numpy as jnp

    from lindblad_nqs.nets.rbm_dm import RBMDensityMatrix
    from lindblad_nqs.spec import parse_spec
    from lindblad_nqs.methods import RunContext, get_method
    from lindblad_nqs.variational import tdvp
    from lindblad_nqs.variational.integrators import evolve
    from lindblad_nqs.variational.state import FlatState
    from lindblad_nqs.vmc.configs import all_doubled
    from lindblad_nqs.vmc.driver import dense_rho
    from lindblad_nqs.vmc.local_estimator import LocalLiouvillian
    from lindblad_nqs.vmc.sampling import prng_key

    n = args.n
    spec = parse_spec({"system": {"lattice": {"shape": [n], "boundary": "periodic"},
                                  "preset": {"name": "heisenberg", "Jx": 2.0, "Jy": 0.0, "Jz": 1.0, "B": 1.0}},
                       "task": {"kind": "dynamics", "t_final": args.t_final, "dt": args.dt, "save_every": 0.1,
                                "initial": {"product": args.initial}},
                       "method": {"name": "exact"}, "observables": ["sx", "sy", "sz"]})
    ex = {(round(r[0], 6), r[1]): r[2] for r in get_method("exact").solve(spec, RunContext(state_dir=None)).rows}
    save_times = spec.task.save_times
    pauli = {"sx": np.array([[0, 1], [1, 0]]), "sy": np.array([[0, -1j], [1j, 0]]), "sz": np.diag([1.0, -1.0])}
    site_ops = {k: sum(np.kron(np.kron(np.eye(2**j), p), np.eye(2 ** (n - j - 1))) for j in range(n)) / n
                for k, p in pauli.items()}
    with jax.enable_x64(True):
        X = jnp.asarray(all_doubled(n))
        lind = LocalLiouvillian(spec.system, dtype=np.complex128)
        for m, noise, shift, bias_std in itertools.product(args.hidden, args.noise, args.shift, args.bias_std):
            opts = tdvp.TDVPOptions("shift", shift)
            mod = RBMDensityMatrix(n, m, m, initial=args.initial, init_noise=noise, bias_std=bias_std,
                                   dtype=jnp.float64)
            x0 = X[:1]
            st = FlatState.from_module(mod, mod.init(prng_key(7919), x0), x0)

            @jax.jit
            def rhs(theta):
                lv = st.log_value(theta, X)
                w = jnp.exp(2 * (lv.real - lv.real.max()))
                E = lind.local_values(lambda xx: st.log_value(theta, xx), X, lv)
                x, A, d = tdvp.solve(st.jacobian(theta, X), E, opts, w=w / w.sum())
                return x, A

            def f(theta, t):
                x, A = rhs(theta)
                return x, (lambda v: jnp.linalg.norm(A @ v)), {}

            dev = {k: 0.0 for k in pauli}

            def on_save(t, theta, dt_next):
                rho = np.asarray(dense_rho(st.log_value, theta, n))
                rho = rho / np.trace(rho)
                for k, op in site_ops.items():
                    dev[k] = max(dev[k], abs(float(np.real(np.trace(rho @ op))) - ex[(round(float(t), 6), k)]))

            t0 = time.perf_counter()
            on_save(0.0, st.theta0, args.dt)
            evolve(f, jnp.asarray(st.theta0), 0.0, save_times[1:], args.dt, integrator="rk4", on_save=on_save)
            print(f"M = M~ = {m:3d} params {st.n_params:4d} noise {noise:g} shift {shift:g} bias_std {bias_std:g}: "
                  f"max |dev| sx {dev['sx']:.4f} "
                  f"sy {dev['sy']:.4f} sz {dev['sz']:.4f}  ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
