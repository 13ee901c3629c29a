"""Can a density-operator network represent a steady state at all? A supervised fit of the exact rho.

The L2 steady-state runs minimise ||L rho||^2 / ||rho||^2 by Monte Carlo; when they end far from the exact
observables, the cause may be the sampling, the optimiser or the ansatz. This script removes the first
two: it enumerates every doubled configuration (in the Z-parity sector where the model conserves it)
and fits the network to the exact steady state by Adam on the Hilbert-Schmidt infidelity

    1 - |<rho_theta, rho_exact>|^2 / (||rho_theta||^2 ||rho_exact||^2),

blind to the scale and the global phase (the same fit as the floor of the review's error-vs-budget
figure, lindblad_nqs.floor, here with progress and without its size limit). If even this fit misses the observables, the ansatz (not the
sampler, not the optimiser of the L2 cost) is what limits the steady-state runs. With --l2-steps the
fit is then handed to Adam on the exact L2 cost ||L rho||^2 / ||rho||^2 (dense sparse Liouvillian, every
configuration): if that walks away from the fit, the L2 minimum inside the ansatz is not the state with
the best observables.

    python benchmarks/fit_exact_rho.py --system square2x3 --steps 3000 --l2-steps 3000
    python benchmarks/fit_exact_rho.py --system square3x3 --set '{features: [6, 6, 6], kernels: [2, 2, 2]}'
    python benchmarks/fit_exact_rho.py --system square2x3 --method rbm_ndo --set '{alpha: 1, ancilla: 1}'

Prints the infidelity and the observables of the normalised fit every --every steps, next to exact.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lindblad_nqs.exact.dynamics import dense_expect  # noqa: E402
from lindblad_nqs.floor import DensityFit, adam, exact_rho  # noqa: E402
from lindblad_nqs.liouvillian.connected import dense_liouvillian  # noqa: E402
from lindblad_nqs.observables import evaluate  # noqa: E402
from lindblad_nqs.solvers.steady_l2 import MODULES  # noqa: E402
from lindblad_nqs.spec import parse_spec  # noqa: E402

HEIS = {"name": "heisenberg", "Jx": 0.9, "Jy": 1.8, "Jz": 1.0, "gamma": 1.0}
SYSTEMS = {
    "square2x3": {"lattice": {"shape": [2, 3], "boundary": "open"}, "preset": HEIS},
    "square3x3": {"lattice": {"shape": [3, 3], "boundary": "periodic"}, "preset": HEIS},
}
OBS = ["sz", "szsz:1", "sxsx:1"]


def main(argv=None) -> int:
    import jax
    import jax.numpy as jnp

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--system", default="square2x3", choices=sorted(SYSTEMS))
    ap.add_argument("--Jy", type=float, default=1.8)
    ap.add_argument("--method", default="cnn", choices=sorted(MODULES))
    ap.add_argument("--set", default="{}", help="network options as a YAML mapping (features, kernels, alpha, ...)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--l2-steps", type=int, default=0, help="then Adam on the exact L2 cost from the fit")
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    system = {**SYSTEMS[a.system], "preset": {**HEIS, "Jy": a.Jy}}
    spec = parse_spec({"system": system, "task": {"kind": "steady"},
                       "method": {"name": a.method, **yaml.safe_load(a.set)}, "observables": OBS, "seed": a.seed})
    n = spec.system.n_sites
    fit = DensityFit(spec, max_configs=1 << 30)  # the floor's fit (lindblad_nqs.floor), without its size limit
    ex = dense_expect(exact_rho(spec.system), n)
    exact = {o.name: evaluate(o, ex) for o in spec.observables}
    params = fit.init(a.seed)
    n_par = sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(params))

    Lfull = dense_liouvillian(fit.system)[fit.keep][:, fit.keep].tocoo()  # the sector is closed under L
    Lrows, Lcols, Lvals = (jnp.asarray(v) for v in (Lfull.row, Lfull.col, Lfull.data))

    def l2_cost(theta):
        r = fit.amplitudes(theta)
        lr = jnp.zeros_like(r).at[Lrows].add(Lvals * r[Lcols])
        return jnp.sum(jnp.abs(lr) ** 2) / jnp.sum(jnp.abs(r) ** 2)

    def observables(theta):
        e = dense_expect(fit.rho(theta), n)
        return {o.name: float(np.real(evaluate(o, e))) for o in spec.observables}

    print(f"{a.system} Jy={a.Jy} {n_par} parameters, {int(fit.keep.sum())} configurations; exact "
          + " ".join(f"{k} {v:.4f}" for k, v in exact.items()), flush=True)
    t0 = time.perf_counter()
    l2 = jax.jit(l2_cost)
    infidelity = jax.jit(fit.infidelity)
    for phase, loss_fn, steps in (("fit", fit.infidelity, a.steps), ("L2", l2_cost, a.l2_steps)):
        def report(it, theta, phase=phase):
            obs = observables(theta)
            err = max(abs(obs[k] - exact[k]) for k in exact)
            print(f"{phase} step {it:6d} infidelity {float(infidelity(theta)):.2e} L2 cost {float(l2(theta)):.3e} "
                  + " ".join(f"{k} {v:.4f}" for k, v in obs.items())
                  + f"  max|err| {err:.4f}  {time.perf_counter() - t0:.0f} s", flush=True)

        if steps:
            params = adam(loss_fn, params, steps, a.lr, a.every, report)  # a fresh Adam per phase
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
