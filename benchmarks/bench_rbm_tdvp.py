"""Time per TDVP evaluation (one integrator stage: sample, Jacobian, L_loc, solve) of rbm_tdvp vs N and samples.

    python benchmarks/bench_rbm_tdvp.py [--sizes 4 8 16] [--samples 1000 4000] [--hidden 8] [--repeat 5]

Prints one line per (N, samples): parameters, seconds per stage (median of --repeat after one warm-up
call that compiles), and the split between sampling and the jitted TDVP assembly + solve.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument("--samples", type=int, nargs="+", default=[1000, 4000])
    ap.add_argument("--hidden", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    import jax
    import jax.numpy as jnp

    from lindblad_nqs.nets.rbm_dm import RBMDensityMatrix
    from lindblad_nqs.spec import parse_system
    from lindblad_nqs.variational import tdvp
    from lindblad_nqs.variational.state import FlatState
    from lindblad_nqs.vmc.local_estimator import LocalLiouvillian
    from lindblad_nqs.vmc.sampling import MetropolisSampler, prng_key

    print(f"jax {jax.__version__} on {jax.default_backend()}")
    with jax.enable_x64(True):
        for n in args.sizes:
            system = parse_system({"lattice": {"shape": [n], "boundary": "periodic"},
                                   "preset": {"name": "heisenberg", "Jx": 2.0, "Jy": 0.0, "Jz": 1.0, "B": 1.0}})
            m = RBMDensityMatrix(n, args.hidden, args.hidden, initial="y-", init_noise=1e-2, bias_std=1.0,
                                 dtype=jnp.float64)
            x0 = jnp.zeros((1, 2, n), jnp.int8)
            st = FlatState.from_module(m, m.init(prng_key(0), x0), x0)
            lind = LocalLiouvillian(system, dtype=np.complex128)
            opts = tdvp.TDVPOptions("shift", 1e-5)

            @jax.jit
            def rhs(theta, x, tables):
                lv = st.log_value(theta, x)
                E = lind.local_values(lambda xx: st.log_value(theta, xx), x, lv, tables)
                return tdvp.solve(st.jacobian(theta, x), E, opts)[0]

            for ns in args.samples:
                chains = 50
                sampler = MetropolisSampler(st.log_value, n, chains, "doubled", 2.0)
                key = prng_key(1)
                chain = sampler.init_state(key)
                ts, tr = [], []
                for r in range(args.repeat + 1):
                    key, k = jax.random.split(key)
                    t0 = time.perf_counter()
                    chain, batch = sampler.sample(st.theta0, chain, k, ns // chains)
                    batch.x.block_until_ready()
                    t1 = time.perf_counter()
                    rhs(st.theta0, batch.x.reshape(-1, 2, n), lind.tables).block_until_ready()
                    t2 = time.perf_counter()
                    if r:
                        ts.append(t1 - t0)
                        tr.append(t2 - t1)
                tot = np.median(np.add(ts, tr))
                print(f"N={n:3d} samples={ns:6d} params={st.n_params:5d}  stage {tot * 1e3:8.1f} ms  "
                      f"(sampling {np.median(ts) * 1e3:7.1f} ms, TDVP {np.median(tr) * 1e3:7.1f} ms)")


if __name__ == "__main__":
    main()
