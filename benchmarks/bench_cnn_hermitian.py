"""Cost of the paper's Hermitian CNN density operator against the unconstrained one, in one run.

rho_H(s, s') = [rho(s, s') + conj rho(s', s)] / 2 evaluates the network on both orderings of every
configuration, so each L2 cost-and-gradient evaluation (NAGD+'s and Adam's step) and each per-sample
Jacobian of the residual (Gauss-Newton's) costs about twice as much. Same samples, same parameters, the two
constructions interleaved repeat by repeat (ratios are what this measures on a loaded machine), the TFI ring
(V = 2, g = 2, sigma^- decay), the paper's chain network (features 6, 20, kernels 3, 3, mean pooling):

    python benchmarks/bench_cnn_hermitian.py [--sizes 6 8] [--samples 1024] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[6, 8])
    ap.add_argument("--samples", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from lindblad_nqs.model import Jump, Lattice, SpinSystem
    from lindblad_nqs.nets.cnn import CNNDensityOperator
    from lindblad_nqs.vmc.cost import make_cost, make_residual_jacobian
    from lindblad_nqs.vmc.local_estimator import LocalLiouvillian
    from lindblad_nqs.vmc.sampling import MetropolisSampler, prng_key

    print(f"device: {jax.default_backend()}  samples: {args.samples}  repeats: {args.repeat}")
    print("N   construction   cost+grad ms   GN Jacobian ms")
    for n in args.sizes:
        system = SpinSystem(Lattice((n,), True), (0.0, 0.0, 0.5), (1.0, 0.0, 0.0), (Jump("sigma_minus", 1.0),))
        lind = LocalLiouvillian(system)
        fns = {}
        for herm in (False, True):
            m = CNNDensityOperator(shape=(n,), features=(6, 20), kernels=((3,), (3,)), pooling="mean", hermitian=herm)
            params = jax.jit(m.init)(prng_key(0), jnp.zeros((1, 2, n), jnp.int8))
            theta, unravel = ravel_pytree(params)
            log_rho = (lambda m, unravel: lambda th, x: m.apply(unravel(th), x))(m, unravel)
            fns[herm] = (theta, make_cost(log_rho, lind), make_residual_jacobian(log_rho, lind), log_rho)
        # one set of samples for both (drawn from the unconstrained network)
        theta, _, _, log_rho = fns[False]
        sampler = MetropolisSampler(log_rho, n, 64, "doubled", 2.0)
        chain, batch = sampler.sample(theta, sampler.init_state(prng_key(1)), prng_key(2), args.samples // 64, 20)
        x, lq = batch.x.reshape(-1, 2, n), 2 * batch.log_rho.reshape(-1).real
        times = {h: [0.0, 0.0] for h in fns}
        for h, (th, costs, jac, _) in fns.items():  # compile
            jax.block_until_ready(costs.value_and_grad(th, x, lq)[1])
            jax.block_until_ready(jac(th, x, lq))
        for _ in range(args.repeat):
            for h, (th, costs, jac, _) in fns.items():
                t0 = time.perf_counter()
                jax.block_until_ready(costs.value_and_grad(th, x, lq)[1])
                t1 = time.perf_counter()
                jax.block_until_ready(jac(th, x, lq))
                times[h][0] += t1 - t0
                times[h][1] += time.perf_counter() - t1
        for h in fns:
            a, b = (1e3 * t / args.repeat for t in times[h])
            print(f"{n:<3d} {'Hermitian' if h else 'unconstrained':14s} {a:12.1f}   {b:14.1f}")
        print(f"    ratio Hermitian / unconstrained: cost+grad {times[True][0] / times[False][0]:.2f}, "
              f"GN Jacobian {times[True][1] / times[False][1]:.2f}", flush=True)


if __name__ == "__main__":
    main()
