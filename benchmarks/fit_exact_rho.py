"""Can a density-operator network represent a steady state at all? A supervised fit of the exact rho.

The L2 steady-state runs minimise ||L rho||^2 / ||rho||^2 by Monte Carlo; when they end far from the exact
observables, the cause may be the sampling, the optimiser or the ansatz. This script removes the first
two: it enumerates every doubled configuration (in the Z-parity sector where the model conserves it)
and fits the network to the exact steady state by Adam on the Hilbert-Schmidt infidelity

    1 - |<rho_theta, rho_exact>|^2 / (||rho_theta||^2 ||rho_exact||^2),

blind to the scale and the global phase. If even this fit misses the observables, the ansatz (not the
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
from lindblad_nqs.exact.steady import solve_sector  # noqa: E402
from lindblad_nqs.liouvillian.connected import dense_liouvillian  # noqa: E402
from lindblad_nqs.observables import evaluate  # noqa: E402
from lindblad_nqs.solvers.steady_l2 import MODULES, _check  # noqa: E402
from lindblad_nqs.spec import parse_spec  # noqa: E402
from lindblad_nqs.vmc.configs import all_doubled, in_parity_sector  # noqa: E402

HEIS = {"name": "heisenberg", "Jx": 0.9, "Jy": 1.8, "Jz": 1.0, "gamma": 1.0}
SYSTEMS = {
    "square2x3": {"lattice": {"shape": [2, 3], "boundary": "open"}, "preset": HEIS},
    "square3x3": {"lattice": {"shape": [3, 3], "boundary": "periodic"}, "preset": HEIS},
}
OBS = ["sz", "szsz:1", "sxsx:1"]


def main(argv=None) -> int:
    import jax
    import jax.numpy as jnp
    import optax

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
    module = MODULES[a.method](spec, _check(spec))
    rho_ex = solve_sector(spec.system).rho
    ex = dense_expect(rho_ex, n)
    exact = {o.name: evaluate(o, ex) for o in spec.observables}
    X = all_doubled(n)
    keep = in_parity_sector(X) if spec.system.conserves_z_parity() else np.ones(len(X), bool)
    target = jnp.asarray(rho_ex.reshape(-1)[keep] / np.linalg.norm(rho_ex))
    Xk = jnp.asarray(X[keep])
    params = module.init(jax.random.PRNGKey(a.seed), Xk[:1])
    n_par = sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(params))

    def amplitudes(theta):
        lr = module.apply(theta, Xk)
        return jnp.exp(lr - jnp.max(lr.real))

    def infidelity(theta):
        r = amplitudes(theta)
        return 1.0 - jnp.abs(jnp.vdot(r, target)) ** 2 / jnp.sum(jnp.abs(r) ** 2)

    Lfull = dense_liouvillian(spec.system)[keep][:, keep].tocoo()  # the sector is closed under L
    Lrows, Lcols, Lvals = (jnp.asarray(v) for v in (Lfull.row, Lfull.col, Lfull.data))

    def l2_cost(theta):
        r = amplitudes(theta)
        lr = jnp.zeros_like(r).at[Lrows].add(Lvals * r[Lcols])
        return jnp.sum(jnp.abs(lr) ** 2) / jnp.sum(jnp.abs(r) ** 2)

    opt = optax.adam(a.lr)

    def stepper(loss_fn):
        @jax.jit
        def step(theta, st):
            loss, g = jax.value_and_grad(loss_fn)(theta)
            up, st = opt.update(g, st, theta)
            return optax.apply_updates(theta, up), st, loss
        return step

    def observables(theta):
        full = np.zeros(4**n, complex)
        full[keep] = np.asarray(amplitudes(theta))
        rho = full.reshape(2**n, 2**n)
        rho = rho / np.trace(rho)
        e = dense_expect(rho, n)
        return {o.name: float(np.real(evaluate(o, e))) for o in spec.observables}

    print(f"{a.system} Jy={a.Jy} {n_par} parameters, {int(keep.sum())} configurations; exact "
          + " ".join(f"{k} {v:.4f}" for k, v in exact.items()), flush=True)
    t0 = time.perf_counter()
    l2 = jax.jit(l2_cost)
    for phase, loss_fn, steps in (("fit", infidelity, a.steps), ("L2", l2_cost, a.l2_steps)):
        step, state = stepper(loss_fn), opt.init(params)  # a fresh Adam per phase
        for it in range(1, steps + 1):
            params, state, loss = step(params, state)
            if it % a.every == 0 or it == steps:
                obs = observables(params)
                err = max(abs(obs[k] - exact[k]) for k in exact)
                print(f"{phase} step {it:6d} infidelity {float(infidelity(params)):.2e} L2 cost {float(l2(params)):.3e} "
                      + " ".join(f"{k} {v:.4f}" for k, v in obs.items())
                      + f"  max|err| {err:.4f}  {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
