"""Time per TDVP evaluation (one integrator stage: sample, Jacobian, L_loc, solve) of rbm_tdvp vs N and samples.

    python benchmarks/bench_rbm_tdvp.py [--sizes 4 8 16] [--samples 1000 4000] [--hidden 8] [--repeat 5]
                                        [--paths generic analytic] [--cpu]

Prints one line per (N, samples, path): parameters, seconds per stage (median of --repeat after one
warm-up call that compiles), and its split: sampling, and the jitted TDVP (local values, Jacobian, solve,
each also timed alone). Paths: `generic` is the autodiff Jacobian and a full RBM evaluation per connected
configuration (method key analytic: false), `analytic` the closed-form O_k, the connected
configurations' log ratio to the sample from its activations (nets.rbm_dm.log_rho_ratio_connected) and
the chains driven by Re log rho in real arithmetic (nets.rbm_dm.log_abs_rho; the default). Each path samples with its own sampler (from the same key and
start: the same samples, checked); both TDVPs run on the generic sampler's. Both paths run in this one invocation,
alternating repeat by repeat on the same samples, so that a changing load hits both alike; the line
`analytic / generic` gives the ratios and the largest difference of L_loc, O and theta_dot between them.
Each path's TDVP is also timed with report=False (no spectrum of S: what RK4's stages 2-4 run, checked to
give the same theta_dot to the bit), and the RK4 step predicted from the two.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument("--samples", type=int, nargs="+", default=[1000, 4000])
    ap.add_argument("--hidden", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cpu", action="store_true", help="CPU seconds of this process instead of wall seconds "
                    "(single-threaded: what compares on a shared machine)")
    ap.add_argument("--paths", nargs="+", default=["generic", "analytic"], choices=("generic", "analytic"))
    args = ap.parse_args()
    import jax
    import jax.numpy as jnp

    from lindblad_nqs.nets import rbm_dm
    from lindblad_nqs.nets.rbm_dm import RBMDensityMatrix
    from lindblad_nqs.spec import parse_system
    from lindblad_nqs.variational import tdvp
    from lindblad_nqs.variational.state import FlatState
    from lindblad_nqs.vmc.local_estimator import LocalLiouvillian, from_digits, to_digits
    from lindblad_nqs.vmc.sampling import MetropolisSampler, prng_key

    print(f"jax {jax.__version__} on {jax.default_backend()}")

    clock = time.process_time if args.cpu else time.perf_counter

    def timed(fn, *a):
        t0 = clock()
        jax.block_until_ready(fn(*a))
        return clock() - t0

    with jax.enable_x64(True):
        for n in args.sizes:
            system = parse_system({"lattice": {"shape": [n], "boundary": "periodic"},
                                   "preset": {"name": "heisenberg", "Jx": 2.0, "Jy": 0.0, "Jz": 1.0, "B": 1.0}})
            m = RBMDensityMatrix(n, args.hidden, args.hidden, initial="y-", init_noise=1e-2, bias_std=1.0,
                                 dtype=jnp.float64)
            x0 = jnp.zeros((1, 2, n), jnp.int8)
            params = m.init(prng_key(0), x0)
            lind = LocalLiouvillian(system, dtype=np.complex128)
            changed = lind.op.changed_sites
            opts = tdvp.TDVPOptions("shift", 1e-5)
            fns = {}
            for path in args.paths:
                st = FlatState.from_module(m, params, x0,
                                           log_derivatives=rbm_dm.log_derivatives if path == "analytic" else None)

                def local(theta, x, tables, st=st, path=path):
                    if path == "generic":
                        return lind.local_values(lambda xx: st.log_value(theta, xx), x, st.log_value(theta, x), tables)
                    conn = lambda d, y: rbm_dm.log_rho_ratio_connected(st.unravel(theta), d, y, changed)  # noqa: E731
                    return lind.op.local_values(lambda d: st.log_value(theta, from_digits(d)), to_digits(x),
                                                jnp.zeros(x.shape[0], lind.dtype), tables, log_f_connected=conn)

                def rhs(theta, x, tables, st=st, local=local, report=True):
                    E = local(theta, x, tables)
                    return tdvp.solve(st.jacobian(theta, x), E, opts, report=report)[0]

                log_abs = (lambda th, x, st=st: rbm_dm.log_abs_rho(st.unravel(th), x)) if path == "analytic" else st.log_value
                fns[path] = dict(st=st, rhs=jax.jit(rhs), rhs_quiet=jax.jit(partial(rhs, report=False)), log_abs=log_abs, local=jax.jit(local), jac=jax.jit(st.jacobian),
                                 solve=jax.jit(lambda O, E: tdvp.solve(O, E, opts)[0]))
            st = fns[args.paths[0]]["st"]
            theta = st.theta0
            for ns in args.samples:
                chains = 50
                samplers = {path: MetropolisSampler(fns[path]["log_abs"], n, chains, "doubled", 2.0)
                            for path in args.paths}
                key = prng_key(1)
                chains0 = {path: samplers[path].init_state(key) for path in args.paths}
                times = {path: {k: [] for k in ("sample", "tdvp", "quiet", "local", "jac", "solve")}
                         for path in args.paths}
                out = {}
                for r in range(args.repeat + 1):
                    key, k = jax.random.split(key)
                    batches = {}
                    for path in (args.paths if r % 2 else args.paths[::-1]):
                        t0 = clock()
                        chains0[path], batches[path] = samplers[path].sample(theta, chains0[path], k, ns // chains)
                        batches[path].x.block_until_ready()
                        times[path]["sample"].append(clock() - t0)
                    x = batches[args.paths[0]].x.reshape(-1, 2, n)  # both paths' TDVP on the same samples
                    for path in (args.paths if r % 2 else args.paths[::-1]):
                        f = fns[path]
                        T = times[path]
                        T["tdvp"].append(timed(f["rhs"], theta, x, lind.tables))
                        T["quiet"].append(timed(f["rhs_quiet"], theta, x, lind.tables))
                        T["local"].append(timed(f["local"], theta, x, lind.tables))
                        T["jac"].append(timed(f["jac"], theta, x))
                        O, E = f["jac"](theta, x), f["local"](theta, x, lind.tables)
                        T["solve"].append(timed(f["solve"], O, E))
                        if r == args.repeat:
                            out[path] = (E, O, f["rhs"](theta, x, lind.tables))
                            assert bool(jnp.all(f["rhs_quiet"](theta, x, lind.tables) == out[path][2]))
                med = {path: {k: float(np.median(v[1:])) for k, v in T.items()} for path, T in times.items()}
                for path, M in med.items():
                    print(f"N={n:3d} samples={ns:6d} params={st.n_params:5d} {path:9s} stage "
                          f"{(M['sample'] + M['tdvp']) * 1e3:8.1f} ms  (sampling {M['sample'] * 1e3:7.1f} ms, TDVP "
                          f"{M['tdvp'] * 1e3:7.1f} ms: local values {M['local'] * 1e3:7.1f}, Jacobian "
                          f"{M['jac'] * 1e3:6.1f}, solve {M['solve'] * 1e3:6.1f})")
                    step_old = 4 * (M["sample"] + M["tdvp"])
                    step_new = 4 * M["sample"] + M["tdvp"] + 3 * M["quiet"]
                    print(f"{'':40s}TDVP without the spectrum (report=False) {M['quiet'] * 1e3:7.1f} ms: "
                          f"{M['quiet'] / M['tdvp']:.2f} of the stage's TDVP; an RK4 step (1 reporting + 3 quiet "
                          f"stages) {step_new / step_old:.2f} of 4 reporting ones")
                if set(med) == {"generic", "analytic"}:
                    g, a = med["generic"], med["analytic"]
                    (Eg, Og, vg), (Ea, Oa, va) = out["generic"], out["analytic"]
                    rel = lambda u, v: float(jnp.max(jnp.abs(u - v)) / jnp.max(jnp.abs(v)))  # noqa: E731
                    same = bool(jnp.all(batches["analytic"].x == batches["generic"].x))
                    print(f"  samples of the two samplers identical: {same}")
                    print(f"  analytic / generic: stage {(a['sample'] + a['tdvp']) / (g['sample'] + g['tdvp']):.2f}, "
                          f"TDVP {a['tdvp'] / g['tdvp']:.2f}, local values {a['local'] / g['local']:.2f}, Jacobian "
                          f"{a['jac'] / g['jac']:.2f}; max rel. difference L_loc {rel(Ea, Eg):.1e}, O {rel(Oa, Og):.1e}, "
                          f"theta_dot {rel(va, vg):.1e}")


if __name__ == "__main__":
    main()
