"""Benchmark of the density-matrix VMC (methods cnn, rbm_ndo) on the CPU or GPU that JAX sees.

Measures, for the dissipative transverse-field Ising ring (V = 2, g = 1, sigma^- decay) of N sites:
  * the local estimator L_loc = (L rho)/rho: samples per second (connected elements + network);
  * one optimisation step (Metropolis sampling of n_samples doubled configurations + cost and gradient
    + Adam update): seconds per step;
  * one Gauss-Newton step (sampling + per-sample Jacobian of the residual + damped solve + one trial
    cost): seconds per step, and its ratio to the Adam step;
for the paper's CNN (features 6, 20, kernels 3, 3; 438 parameters) and the purified RBM (alpha = 1,
beta = 4 as in the paper's comparison), and prints the CNN/RBM ratios measured in the same run.

    python benchmarks/bench_vmc_steady.py [--sizes 4 8 16 32] [--samples 1024] [--repeat 5] [--out bench.csv]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def bench(n, kind, n_samples, repeat):
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from lindblad_nqs.model import Jump, Lattice, SpinSystem
    from lindblad_nqs.nets.cnn import CNNDensityOperator
    from lindblad_nqs.nets.rbm_ndo import RBMDensityOperator
    from lindblad_nqs.vmc.cost import make_cost, make_residual_jacobian
    from lindblad_nqs.vmc.driver import make_objective
    from lindblad_nqs.vmc.local_estimator import LocalLiouvillian
    from lindblad_nqs.vmc.optimizers import Adam, GaussNewton
    from lindblad_nqs.vmc.sampling import MetropolisSampler, prng_key

    system = SpinSystem(Lattice((n,), True), (0.0, 0.0, 0.5), (0.5, 0.0, 0.0), (Jump("sigma_minus", 1.0),))
    module = (CNNDensityOperator(shape=(n,), features=(6, 20), kernels=((3,), (3,)))
              if kind == "cnn" else RBMDensityOperator(n_sites=n, alpha=1.0, ancilla=4.0))
    params = jax.jit(module.init)(prng_key(0), jnp.zeros((1, 2, n), jnp.int8))
    theta, unravel = ravel_pytree(params)
    log_rho = lambda th, x: module.apply(unravel(th), x)
    lind = LocalLiouvillian(system)
    costs = make_cost(log_rho, lind)
    n_chains = 64
    sampler = MetropolisSampler(log_rho, n, n_chains, "doubled", 2.0)
    chain = sampler.init_state(prng_key(1))
    per = n_samples // n_chains
    chain, batch = sampler.sample(theta, chain, prng_key(2), per, 10)
    x = batch.x.reshape(-1, 2, n)
    lq = 2 * batch.log_rho.reshape(-1).real

    loc = jax.jit(lambda th, x: lind.local_values(lambda y: log_rho(th, y), x, None, lind.tables))
    jax.block_until_ready(loc(theta, x))
    t0 = time.perf_counter()
    for _ in range(repeat):
        jax.block_until_ready(loc(theta, x))
    t_loc = (time.perf_counter() - t0) / repeat

    resid_jac = make_residual_jacobian(log_rho, lind)

    objective = make_objective(costs, residual_jacobian=resid_jac)

    def step(opt, state, chain, k):
        """One optimisation step: sample, cost and gradient, update (the Jacobian and the trial cost are
        evaluated only by the optimisers that ask for them)."""
        th = opt.point(state)
        chain, b = sampler.sample(th, chain, prng_key(k), per, 0)
        xb, lqb = b.x.reshape(-1, 2, n), 2 * b.log_rho.reshape(-1).real
        c, g, aux = costs.value_and_grad(th, xb, lqb)
        state, _ = opt.update(state, g, c, 0.0, {"x": xb, "lq": lqb, "ess": aux["ess"]})
        jax.block_until_ready(opt.params(state))
        return state, chain

    def seconds_per_step(opt, chain, k0):
        state, chain = step(opt, opt.init(theta), chain, k0)  # compile
        t0 = time.perf_counter()
        for r in range(repeat):
            state, chain = step(opt, state, chain, k0 + 1 + r)
        return (time.perf_counter() - t0) / repeat, chain

    t_step, chain = seconds_per_step(Adam(objective, lr=1e-3), chain, 3)
    t_gn, chain = seconds_per_step(GaussNewton(objective, max_tries=1), chain, 20)
    return dict(n_sites=n, ansatz=kind, n_params=int(theta.size), connected=lind.n_conn,
                local_samples_per_s=x.shape[0] / t_loc, step_s=t_step, gn_step_s=t_gn, samples=x.shape[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16, 32])
    ap.add_argument("--samples", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import jax
    import pandas as pd

    rows = []
    for n in args.sizes:
        for kind in ("cnn", "rbm"):
            r = bench(n, kind, args.samples, args.repeat)
            rows.append(r)
            print(f"N={n:3d} {kind:4s} params={r['n_params']:6d} conn={r['connected']:4d} "
                  f"local estimator {r['local_samples_per_s']:10.0f} samples/s   step {r['step_s'] * 1e3:8.1f} ms"
                  f"   gauss-newton step {r['gn_step_s'] * 1e3:8.1f} ms ({r['gn_step_s'] / r['step_s']:.1f}x)", flush=True)
    df = pd.DataFrame(rows)
    piv = df.pivot(index="n_sites", columns="ansatz", values="step_s")
    print(f"\ndevice: {jax.default_backend()}  samples per step: {args.samples}")
    print("time per step, CNN / RBM (alpha=1, ancilla=4):")
    for n, r in piv.iterrows():
        print(f"  N={n:3d}: {r['cnn'] / r['rbm']:.2f}")
    if args.out:
        df.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
