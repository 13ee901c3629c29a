"""rbm_tdvp against NetKet's TDVP driver on an MCMixedState, side by side in one run: accuracy against
exact dynamics and seconds per RK4 step at equal samples and (nearly) equal parameter counts.

NetKet is not a dependency of the project; install it in its own environment and name its python:

    python3 -m venv /tmp/nk && /tmp/nk/bin/pip install netket==3.23.0
    .venv/bin/python benchmarks/bench_netket_tdvp.py --netket-python /tmp/nk/bin/python [--n 4] [--t-final 1]

Model: the periodic XYZ chain J = (2, 0, 1), B = 1, sigma^- decay (rbm_tdvp's test case), from x+ on every
site: NetKet's NDM (Torlai-Melko, real parameters) holds x+ at zero parameters, which its default
initialisation (std 0.01) approximates; it cannot hold y- with real parameters. Both: RK4 with dt = 0.01,
2000 samples of the doubled configuration per stage from 50 Metropolis chains, diagonal shift 1e-5, 8000
diagonal samples for the observables. NDM alpha = beta = M / N against our M = M~. The NetKet side runs in
a subprocess of this script (same machine, one after the other); the time per step is the median over
steps (ours) or save intervals (NetKet), compilation and observables excluded. Run it on an idle
machine: a load that changes between the two halves changes the ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SAVE_EVERY = 0.1


def netket_worker(n: int, t_final: float, dt: float, samples: int, hidden: int, seed: int) -> dict:
    import jax
    import netket as nk

    jax.config.update("jax_enable_x64", True)
    hi = nk.hilbert.Spin(0.5, n)
    sx, sy, sz, sm = (nk.operator.spin.sigmax, nk.operator.spin.sigmay, nk.operator.spin.sigmaz,
                      nk.operator.spin.sigmam)
    # the project's preset: H = sum_<ij> (Jx X X + Jz Z Z) + B sum_j Z in Pauli matrices
    H = sum(2.0 * sx(hi, j) @ sx(hi, (j + 1) % n) + 1.0 * sz(hi, j) @ sz(hi, (j + 1) % n)
            for j in range(n)) + sum(1.0 * sz(hi, j) for j in range(n))
    lind = nk.operator.LocalLiouvillian(H, [sm(hi, j) for j in range(n)])
    model = nk.models.NDM(alpha=hidden / n, beta=hidden / n)
    sampler = nk.sampler.MetropolisLocal(lind.hilbert, n_chains=50)
    sampler_diag = nk.sampler.MetropolisLocal(hi, n_chains=50)
    vs = nk.vqs.MCMixedState(sampler, model, sampler_diag=sampler_diag, n_samples=samples, n_samples_diag=8000,
                             n_discard_per_chain=100, seed=seed, sampler_seed=seed + 1)
    qgt = nk.optimizer.qgt.QGTJacobianDense(diag_shift=1e-5)
    driver = nk.experimental.TDVP(lind, vs, nk.experimental.dynamics.RK4(dt=dt), qgt=qgt,
                                  linear_solver=nk.optimizer.solver.cholesky)
    ops = {k: sum(f(hi, j) for j in range(n)) / n for k, f in (("sx", sx), ("sy", sy), ("sz", sz))}
    times = np.round(np.arange(0, t_final + 1e-9, SAVE_EVERY), 9)
    rows = {k: [float(np.real(vs.expect(op).mean))] for k, op in ops.items()}
    per_step = []  # seconds per step of each save interval; the first includes compilation
    n_steps = 0
    for t in times[1:]:
        t0 = time.perf_counter()
        driver.run(float(t) - driver.t, show_progress=False)
        jax.block_until_ready(vs.parameters)
        per_step.append((time.perf_counter() - t0) / (driver.step_count - n_steps))
        n_steps = driver.step_count
        for k, op in ops.items():
            rows[k].append(float(np.real(vs.expect(op).mean)))
    return {"version": nk.__version__, "times": times.tolist(), "values": rows,
            "step_s": float(np.median(per_step[1:] or per_step)), "steps": int(n_steps), "n_params": int(vs.n_parameters)}


def ours(n: int, t_final: float, dt: float, samples: int, hidden: int, seed: int, state_dir: Path) -> dict:
    from lindblad_nqs.methods import RunContext, get_method
    from lindblad_nqs.spec import parse_spec

    spec = parse_spec(_spec(n, t_final, dt, {"name": "rbm_tdvp", "hidden": hidden, "mixing": hidden,
                                             "n_samples": samples, "n_chains": 50, "diag_shift": 1e-5,
                                             "integrator": "rk4", "obs_samples": 8000, "track": []}, seed))
    res = get_method("rbm_tdvp").solve(spec, RunContext(state_dir=state_dir))
    h = res.history
    values = {k: [r[2] for r in res.rows if r[1] == k] for k in ("sx", "sy", "sz")}
    # the median step: the first compiles, and a step after a save time carries the observables' cost
    return {"times": sorted({round(r[0], 9) for r in res.rows}), "values": values,
            "step_s": float(h.time_s.dropna().median()), "steps": int(h.step.max()), "n_params": int(res.info["n_params"])}


def _spec(n, t_final, dt, method, seed):
    return {"system": {"lattice": {"shape": [n], "boundary": "periodic"},
                       "preset": {"name": "heisenberg", "Jx": 2.0, "Jy": 0.0, "Jz": 1.0, "B": 1.0, "gamma": 1.0}},
            "task": {"kind": "dynamics", "t_final": t_final, "dt": dt, "save_every": SAVE_EVERY,
                     "initial": {"product": "x+"}},
            "method": method, "observables": ["sx", "sy", "sz"], "seed": seed}


def exact(n, t_final, dt) -> dict:
    from lindblad_nqs.methods import RunContext, get_method
    from lindblad_nqs.spec import parse_spec

    res = get_method("exact").solve(parse_spec(_spec(n, t_final, dt, {"name": "exact"}, 0)), RunContext(None))
    return {k: [r[2] for r in res.rows if r[1] == k] for k in ("sx", "sy", "sz")}


def deviation(values, ref) -> dict:
    return {k: float(np.max(np.abs(np.asarray(values[k]) - np.asarray(ref[k])))) for k in ref}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--t-final", type=float, default=1.0)
    ap.add_argument("--dt", type=float, default=0.01)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--hidden", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--netket-python", help="python of the environment that has netket")
    ap.add_argument("--netket-worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.netket_worker:
        print(json.dumps(netket_worker(a.n, a.t_final, a.dt, a.samples, a.hidden, a.seed)))
        return 0
    import jax

    ref = exact(a.n, a.t_final, a.dt)
    with tempfile.TemporaryDirectory() as tmp:
        mine = ours(a.n, a.t_final, a.dt, a.samples, a.hidden, a.seed, Path(tmp))
    results = {"rbm_tdvp (jax " + jax.__version__ + ")": mine}
    if a.netket_python:
        out = subprocess.run([a.netket_python, __file__, "--netket-worker", "--n", str(a.n), "--t-final",
                              str(a.t_final), "--dt", str(a.dt), "--samples", str(a.samples), "--hidden",
                              str(a.hidden), "--seed", str(a.seed)], capture_output=True, text=True)
        if out.returncode:
            print(out.stderr[-3000:], file=sys.stderr)
            return 1
        nk = json.loads(out.stdout.strip().splitlines()[-1])
        results[f"netket {nk['version']}"] = nk
    print(f"N = {a.n}, t <= {a.t_final}, RK4 dt = {a.dt}, {a.samples} samples per stage, M = M~ = {a.hidden}")
    per_step = {}
    for name, r in results.items():
        dev = deviation(r["values"], ref)
        per_step[name] = r["step_s"]
        print(f"{name:28s} params {r['n_params']:5d}  steps {r['steps']:4d}  {per_step[name]:.3f} s/step  max |dev| "
              + "  ".join(f"{k} {v:.3f}" for k, v in dev.items()))
    if len(per_step) == 2:
        (a_, ta), (b_, tb) = per_step.items()
        print(f"steps per second, rbm_tdvp / netket: {tb / ta:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
