"""rbm_tdvp against NetKet's TDVP driver on an MCMixedState, side by side in one run: accuracy against
exact dynamics and seconds per RK4 step at equal samples and (nearly) equal parameter counts.

NetKet is not a dependency of the project; install it in its own environment and name its python:

    python3 -m venv /tmp/nk && /tmp/nk/bin/pip install netket==3.23.0
    .venv/bin/python benchmarks/bench_netket_tdvp.py --netket-python /tmp/nk/bin/python [--n 4] [--t-final 1]

Model: the periodic XYZ chain J = (2, 0, 1), B = 1, sigma^- decay (rbm_tdvp's test case), from x+ on every
site: NetKet's NDM (Torlai-Melko, real parameters) holds x+ at zero parameters, which its default
initialisation (std 0.01) approximates; it cannot hold y- with real parameters. Both: RK4 with dt = 0.01,
2000 samples of the doubled configuration per stage from 50 Metropolis chains (2N proposals between samples,
100 burn-in sweeps at the start and none after: the chains continue from stage to stage), diagonal shift
1e-5, 8000 diagonal samples for the observables. NDM alpha = beta = M / N against our M = M~. The NetKet side runs in
a subprocess of this script (same machine, one after the other); the time per step is the median over
steps (ours) or save intervals (NetKet), compilation and observables excluded, in wall and in CPU seconds of the process (both single-threaded
under the XLA flags of the project's benchmarks; on a shared machine the CPU time is the one that compares).

--paths generic analytic runs rbm_tdvp's autodiff path (method key analytic: false) beside its default
closed-form one; --repeat R runs every variant R times back to back, the order rotated each round, and
reports the median seconds per step, the per-round ratios and the median deviation. A load that changes
between variants changes a round's ratio: on a shared machine take the medians over rounds. --old-src DIR
runs the default path of another tree (e.g. a `git worktree` of an older commit, DIR = its src) in a
subprocess beside the others: old and new code in one run.
"""

from __future__ import annotations

import argparse
import json
import os
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
    # NetKet discards n_discard_per_chain sweeps at *every* sampling; rbm_tdvp burns in once and then continues
    # its chains from stage to stage: the same here (100 sweeps once, none per stage), so both sample alike
    vs = nk.vqs.MCMixedState(sampler, model, sampler_diag=sampler_diag, n_samples=samples, n_samples_diag=8000,
                             n_discard_per_chain=0, seed=seed, sampler_seed=seed + 1)
    vs.sample(n_discard_per_chain=100)
    qgt = nk.optimizer.qgt.QGTJacobianDense(diag_shift=1e-5)
    driver = nk.experimental.TDVP(lind, vs, nk.experimental.dynamics.RK4(dt=dt), qgt=qgt,
                                  linear_solver=nk.optimizer.solver.cholesky)
    ops = {k: sum(f(hi, j) for j in range(n)) / n for k, f in (("sx", sx), ("sy", sy), ("sz", sz))}
    times = np.round(np.arange(0, t_final + 1e-9, SAVE_EVERY), 9)
    rows = {k: [float(np.real(vs.expect(op).mean))] for k, op in ops.items()}
    per_step, per_step_cpu = [], []  # wall and CPU seconds per step of each save interval; the first compiles
    n_steps = 0
    for t in times[1:]:
        t0, c0 = time.perf_counter(), time.process_time()
        driver.run(float(t) - driver.t, show_progress=False)
        jax.block_until_ready(vs.parameters)
        per_step.append((time.perf_counter() - t0) / (driver.step_count - n_steps))
        per_step_cpu.append((time.process_time() - c0) / (driver.step_count - n_steps))
        n_steps = driver.step_count
        for k, op in ops.items():
            rows[k].append(float(np.real(vs.expect(op).mean)))
    return {"version": nk.__version__, "times": times.tolist(), "values": rows,
            "step_s": float(np.median(per_step[1:] or per_step)),
            "cpu_s": float(np.median(per_step_cpu[1:] or per_step_cpu)), "steps": int(n_steps),
            "n_params": int(vs.n_parameters)}


def ours(n: int, t_final: float, dt: float, samples: int, hidden: int, seed: int, state_dir: Path,
         analytic: bool = True) -> dict:
    from lindblad_nqs.methods import RunContext, get_method
    from lindblad_nqs.spec import parse_spec

    spec = parse_spec(_spec(n, t_final, dt, {"name": "rbm_tdvp", "hidden": hidden, "mixing": hidden,
                                             "n_samples": samples, "n_chains": 50, "diag_shift": 1e-5,
                                             "integrator": "rk4", "obs_samples": 8000, "track": [],
                                             "analytic": analytic}, seed))
    res = get_method("rbm_tdvp").solve(spec, RunContext(state_dir=state_dir))
    h = res.history
    values = {k: [r[2] for r in res.rows if r[1] == k] for k in ("sx", "sy", "sz")}
    # the median step: the first compiles, and a step after a save time carries the observables' cost
    return {"times": sorted({round(r[0], 9) for r in res.rows}), "values": values,
            "step_s": float(h.time_s.dropna().median()), "cpu_s": res.info["cpu_per_step_s"], "steps": int(h.step.max()), "n_params": int(res.info["n_params"])}


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
    ap.add_argument("--repeat", type=int, default=1, help="rounds of every variant, back to back, order rotated")
    ap.add_argument("--paths", nargs="+", default=["analytic"], choices=("generic", "analytic"),
                    help="rbm_tdvp paths: analytic (the default method) and/or generic (method key analytic: false)")
    ap.add_argument("--netket-python", help="python of the environment that has netket")
    ap.add_argument("--old-src", help="a source tree (its src/ folder) of lindblad_nqs to run beside this one: "
                    "rbm_tdvp's default path of an older commit, in a subprocess, same settings")
    ap.add_argument("--netket-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ours-worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.netket_worker:
        print(json.dumps(netket_worker(a.n, a.t_final, a.dt, a.samples, a.hidden, a.seed)))
        return 0
    if a.ours_worker:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(ours(a.n, a.t_final, a.dt, a.samples, a.hidden, a.seed, Path(tmp))))
        return 0
    import jax

    ref = exact(a.n, a.t_final, a.dt)

    def run_ours(path):
        with tempfile.TemporaryDirectory() as tmp:
            return ours(a.n, a.t_final, a.dt, a.samples, a.hidden, a.seed, Path(tmp), analytic=path == "analytic")

    def run_netket():
        out = subprocess.run([a.netket_python, __file__, "--netket-worker", "--n", str(a.n), "--t-final",
                              str(a.t_final), "--dt", str(a.dt), "--samples", str(a.samples), "--hidden",
                              str(a.hidden), "--seed", str(a.seed)], capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(out.stderr[-3000:])
        return json.loads(out.stdout.strip().splitlines()[-1])

    def run_old():
        env = dict(os.environ, PYTHONPATH=a.old_src)
        out = subprocess.run([sys.executable, __file__, "--ours-worker", "--n", str(a.n), "--t-final", str(a.t_final),
                              "--dt", str(a.dt), "--samples", str(a.samples), "--hidden", str(a.hidden), "--seed",
                              str(a.seed)], capture_output=True, text=True, env=env)
        if out.returncode:
            raise RuntimeError(out.stderr[-3000:])
        return json.loads(out.stdout.strip().splitlines()[-1])

    variants = {f"rbm_tdvp {p} (jax {jax.__version__})": (lambda p=p: run_ours(p)) for p in a.paths}
    if a.old_src:
        variants["rbm_tdvp analytic, --old-src"] = run_old
    if a.netket_python:
        variants["netket"] = run_netket
    names = list(variants)
    runs = {k: [] for k in names}
    for r in range(a.repeat):
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotated: no variant always first
            t0 = time.perf_counter()
            runs[name].append(variants[name]())
            last = runs[name][-1]
            print(f"round {r + 1}: {name} {last['step_s']:.3f} s/step wall, {last['cpu_s']:.3f} CPU "
                  f"({time.perf_counter() - t0:.0f} s in all, load {' '.join(f'{v:.1f}' for v in os.getloadavg())})",
                  flush=True)
    print(f"N = {a.n}, t <= {a.t_final}, RK4 dt = {a.dt}, {a.samples} samples per stage, M = M~ = {a.hidden}, "
          f"{a.repeat} rounds")
    med = {}
    for name in names:
        rs = runs[name]
        label = name if name != "netket" else f"netket {rs[0]['version']}"
        med[name] = {k: float(np.median([r[k] for r in rs])) for k in ("step_s", "cpu_s")}
        devs = [deviation(r["values"], ref) for r in rs]
        rounds = " ".join(f"{r['cpu_s']:.3f}" for r in rs)
        print(f"{label:34s} params {rs[0]['n_params']:5d}  steps {rs[0]['steps']:4d}  median {med[name]['step_s']:.3f} "
              f"s/step wall, {med[name]['cpu_s']:.3f} CPU (rounds, CPU: {rounds})  max |dev| "
              + "  ".join(f"{k} {np.median([d[k] for d in devs]):.3f}" for k in ref))

    def ratio(fast, slow):  # steps per second of `fast` over `slow`: of the medians, and round by round
        for k, what in (("step_s", "wall"), ("cpu_s", "CPU")):
            per_round = " ".join(f"{b[k] / x[k]:.2f}" for x, b in zip(runs[fast], runs[slow]))
            print(f"steps per {what} second, {fast.split(' (')[0]} / {slow.split(' (')[0]}: "
                  f"{med[slow][k] / med[fast][k]:.2f} (per round {per_round})")

    ours_names = [k for k in names if k != "netket"]
    for name in ours_names:
        if "netket" in runs:
            ratio(name, "netket")
    if a.old_src:
        first, old = ours_names[0], "rbm_tdvp analytic, --old-src"
        ratio(first, old)
        diff = max(max(abs(u - v) for u, v in zip(runs[first][0]["values"][k], runs[old][0]["values"][k])) for k in ref)
        print(f"{first.split(' (')[0]} against --old-src: largest difference of the observables {diff:.1e}")
    elif len(ours_names) == 2:
        ratio(ours_names[1], ours_names[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
