"""Time of one optimiser update of the steady-state loop, old (NumPy on the host) against new (optax / jit on
the device), in one process on the same samples, repeats interleaved so both see the same machine load.

The old update is the optimizers.py of another source tree (--old, e.g. a worktree of the commit before
the change), loaded as a module beside the new package (it imports only variational.linsolve and
variational.tdvp, which the change leaves alone). The system is the quick config's mellak_tfi_cnn point
(6-site dissipative TFI ring, V = 2, g = 2; CNN features 6, 20; 1024 samples); the rbm column uses the
purified RBM (alpha = 1, ancilla = 1). Prints the median seconds per update and the ratio new / old.

    python benchmarks/steady_step_timing.py --old /tmp/h1-old/src [--repeat 20]
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np


def load_old(src: str):
    spec = importlib.util.spec_from_file_location("lindblad_nqs.vmc._old_optimizers",
                                                  Path(src) / "lindblad_nqs/vmc/optimizers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def setup(kind: str):
    import jax
    import jax.numpy as jnp

    from lindblad_nqs.model import Jump, Lattice, SpinSystem
    from lindblad_nqs.nets.cnn import CNNDensityOperator
    from lindblad_nqs.nets.rbm_ndo import RBMDensityOperator
    from lindblad_nqs.variational.state import FlatState
    from lindblad_nqs.vmc.cost import make_cost, make_residual_jacobian
    from lindblad_nqs.vmc.driver import make_objective
    from lindblad_nqs.vmc.local_estimator import LocalLiouvillian
    from lindblad_nqs.vmc.sampling import MetropolisSampler, prng_key

    n = 6
    system = SpinSystem(Lattice((n,), True), (0.0, 0.0, 0.5), (1.0, 0.0, 0.0), (Jump("sigma_minus", 1.0),))
    module = (CNNDensityOperator(shape=(n,), features=(6, 20), kernels=((3,), (3,))) if kind == "cnn"
              else RBMDensityOperator(n_sites=n, alpha=1.0, ancilla=1.0))
    x0 = jnp.zeros((1, 2, n), jnp.int8)
    state = FlatState.from_module(module, jax.jit(module.init)(prng_key(0), x0), x0)
    lind = LocalLiouvillian(system)
    costs = make_cost(state.log_value, lind)
    sampler = MetropolisSampler(state.log_value, n, 32, "doubled", 2.0, True)
    chain, b = sampler.sample(state.theta0, sampler.init_state(prng_key(1)), prng_key(2), 32, 50)
    x, lq = b.x.reshape(-1, 2, n), 2 * b.log_rho.reshape(-1).real
    c, g, aux = costs.value_and_grad(state.theta0, x, lq)
    resid = make_residual_jacobian(state.log_value, lind)
    return state, costs, resid, make_objective(costs, state, resid), (x, lq, c, g, aux)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True)
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()
    import jax
    import jax.numpy as jnp

    from lindblad_nqs.vmc import optimizers as new

    old = load_old(a.old)
    print("| ansatz | optimiser | old s/update | new s/update | new/old |")
    print("|---|---|---|---|---|")
    for kind in ("cnn", "rbm"):
        state, costs, resid, objective, (x, lq, c, g, aux) = setup(kind)
        th64 = np.asarray(state.theta0, float)
        ess0 = float(aux["ess"])
        data = {"x": x, "lq": lq, "ess": aux["ess"]}

        def trial(t):
            cc, aa = costs.value(jnp.asarray(t, jnp.float32), x, lq)
            return float(cc), float(aa["ess"]) / ess0

        jac_gn = lambda: resid(jnp.asarray(th64, jnp.float32), x, lq)  # noqa: E731
        jacobian = jax.jit(state.jacobian)  # the old driver's jitted per-sample Jacobian
        jac_sr = lambda: (jacobian(state.theta0, x),  # noqa: E731
                          jax.nn.softmax(2 * costs.log_rho(state.theta0, x).real - lq))
        cases = {
            "adam": (lambda: old.Adam(th64, lr=0.01, final_factor=0.1, horizon=100), None,
                     new.Adam(objective, lr=0.01, final_factor=0.1, horizon=100)),
            "nagd": (lambda: old.NAGD(th64, lr=0.05), None, new.NAGD(objective, lr=0.05)),
            "gn": (lambda: old.GaussNewton(th64), jac_gn, new.GaussNewton(objective)),
            "sr": (lambda: old.SR(th64, lr=0.01), jac_sr, new.SR(objective, lr=0.01)),
        }
        for name, (make_old, jac, opt) in cases.items():
            s0 = opt.init(state.theta0)

            def run_old():
                o = make_old()
                o.point()
                t0 = time.perf_counter()
                o.update(np.asarray(g, float), float(c), trial, jac, cost_err=0.0)
                return time.perf_counter() - t0

            def run_new():
                t0 = time.perf_counter()
                s, info = opt.update(s0, g, c, 0.0, data)
                jax.block_until_ready(opt.params(s))
                {k: np.asarray(v).item() for k, v in info.items()}
                return time.perf_counter() - t0

            run_old(), run_new()  # compile
            to, tn = [], []
            for _ in range(a.repeat):
                to.append(run_old())
                tn.append(run_new())
            mo, mn = float(np.median(to)), float(np.median(tn))
            print(f"| {kind} | {name} | {mo:.4f} | {mn:.4f} | {mn / mo:.2f} |", flush=True)


if __name__ == "__main__":
    main()
