"""The one local-operator table against the code it replaced: VMC L_loc (JAX) and the luo2022 cost step
(PyTorch), and the POVM RNN's local value (JAX), timed for two source trees in one run.

    git worktree add /tmp/h2-old <commit before the table>
    python benchmarks/bench_operator_table.py --old /tmp/h2-old/src [--rounds 7]

Two long-lived workers (one per source tree, each importing lindblad_nqs from its tree) build the same
problems and compile them; then, round by round, each times every problem in turn (old, then new), so
that both see the same load of the shared machine. Printed: the median over rounds of each time, and
the median of the per-round ratios new / old (below 1: the new code is faster). The workers also check
that both trees give the same numbers (max relative difference of L_loc and of the L1 cost).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def worker(reps: int):
    import jax
    import jax.numpy as jnp
    import torch

    import lindblad_nqs
    from lindblad_nqs.model import Jump, Lattice, SpinSystem
    from lindblad_nqs.nets.cnn import CNNDensityOperator
    from lindblad_nqs.nets.rbm_ndo import RBMDensityOperator
    from lindblad_nqs.povm import POVMLindbladian, get_povm
    from lindblad_nqs.povm_solvers.costs import l1_cost, prepare
    from lindblad_nqs.povm_solvers.training import NetConfig, build_model
    from lindblad_nqs.vmc.local_estimator import LocalLiouvillian

    torch.set_num_threads(1)
    problems, checks = {}, {}

    def tfi(n):
        return SpinSystem(Lattice((n,), True), (0.0, 0.0, 0.5), (0.5, 0.0, 0.0), (Jump("sigma_minus", 1.0),))

    def xyz(shape):
        return SpinSystem(Lattice(shape, True), (0.9, 1.8, 1.0), (0.0, 0.0, 0.0), (Jump("sigma_minus", 1.0),))

    rng = np.random.default_rng(0)
    for name, system, module in [
            ("L_loc cnn tfi-8", tfi(8), CNNDensityOperator(shape=(8,), features=(6, 20), kernels=((3,), (3,)))),
            ("L_loc rbm tfi-16", tfi(16), RBMDensityOperator(n_sites=16, alpha=1.0, ancilla=4.0)),
            ("L_loc cnn xyz-3x3", xyz((3, 3)), CNNDensityOperator(shape=(3, 3), features=(6, 20),
                                                                 kernels=((3, 3), (3, 3))))]:
        n = system.n_sites
        params = module.init(jax.random.key(0), jnp.zeros((1, 2, n), jnp.int8))
        lind = LocalLiouvillian(system)
        x = jnp.asarray(rng.integers(0, 2, size=(1024, 2, n)), jnp.int8)
        f = jax.jit(lambda p, x, t, lind=lind, module=module: lind.local_values(lambda y: module.apply(p, y), x,
                                                                                  None, t))
        problems[name] = (lambda f=f, p=params, x=x, t=lind.tables: jax.block_until_ready(f(p, x, t)))
        v = np.asarray(problems[name]())
        checks[name] = [v.real.tolist(), v.imag.tolist()]
        g = jax.jit(lambda x, t, lind=lind: lind.connected(x, t))
        problems[f"connected only {name.split()[-1]}"] = (lambda g=g, x=x, t=lind.tables: jax.block_until_ready(g(x, t)))
        problems[f"connected only {name.split()[-1]}"]()

    for n in (8, 12):
        system = tfi(n)
        povm = get_povm("pauli4")
        lind = POVMLindbladian(system, povm)
        torch.manual_seed(0)
        model = build_model(system, NetConfig(1, 32, 4), povm.product_probabilities("z+"))
        with torch.no_grad():  # spread the samples away from the product state
            for p_ in model.parameters():
                p_.add_(0.3 * torch.randn_like(p_))
        a = model.sample(500, torch.Generator().manual_seed(1))

        def step(lind=lind, model=model, a=a):
            model.zero_grad()
            return l1_cost(model, prepare(lind, a), backward=True).value

        problems[f"transformer L1 step tfi-{n}"] = step
        problems[f"transformer prepare tfi-{n}"] = (lambda lind=lind, a=a: prepare(lind, a))
        checks[f"transformer L1 step tfi-{n}"] = [step()]

    from lindblad_nqs.methods import get_method
    from lindblad_nqs.povm_tdvp import POVMApplier
    from lindblad_nqs.solvers.rnn_tdvp import build_state

    system = SpinSystem(Lattice((10,), False), (2.0, 0.0, 1.0), (0.0, 0.0, 1.0), (Jump("sigma_minus", 1.0),))
    p = dict(get_method("rnn_tdvp").defaults, float64=False)
    module, _, state = build_state(system.lattice, p, "y-", 0)
    theta = state.theta0 + 0.05 * jax.random.normal(jax.random.key(1), state.theta0.shape, state.theta0.dtype)
    applier = POVMApplier(POVMLindbladian(system, p["povm"]))
    a = module.apply(state.unravel(theta), jax.random.key(3), 1000, method="sample")[0]
    loc = jax.jit(lambda th, a: applier.local_values(lambda x: state.log_value(th, x), a))
    problems["rnn local value chain-10"] = (lambda: jax.block_until_ready(loc(theta, a)))
    v = np.asarray(problems["rnn local value chain-10"]())
    checks["rnn local value chain-10"] = v.tolist()

    print(json.dumps({"source": lindblad_nqs.__file__, "checks": checks}), flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        times = {}
        for name, fn in problems.items():
            fn()
            ts = []
            for _ in range(reps):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            times[name] = float(np.median(ts))
        print(json.dumps(times), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True, help="src folder of the old tree")
    ap.add_argument("--new", default=str(Path(__file__).resolve().parents[1] / "src"))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--worker", action="store_true")
    args = ap.parse_args()
    if args.worker:
        return worker(args.reps)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    procs = {}
    for tag, src in (("old", args.old), ("new", args.new)):
        procs[tag] = subprocess.Popen([sys.executable, __file__, "--worker", "--old", args.old, "--reps", str(args.reps)],
                                      env=dict(env, PYTHONPATH=src), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True)
    head = {tag: json.loads(p.stdout.readline()) for tag, p in procs.items()}
    for tag in procs:
        print(f"{tag}: {head[tag]['source']}")
    for name in head["old"]["checks"]:
        o, w = np.asarray(head["old"]["checks"][name]), np.asarray(head["new"]["checks"][name])
        print(f"same numbers, {name}: max |new - old| / max |old| = {np.max(np.abs(w - o)) / np.max(np.abs(o)):.1e}")
    rounds = {"old": [], "new": []}
    for _ in range(args.rounds):
        for tag, p in procs.items():
            p.stdin.write("go\n")
            p.stdin.flush()
            rounds[tag].append(json.loads(p.stdout.readline()))
    for p in procs.values():
        p.stdin.close()
        p.wait()
    print(f"\n{'problem':<30} {'old ms':>9} {'new ms':>9} {'new/old':>8}   (medians over {args.rounds} rounds)")
    for name in rounds["old"][0]:
        o = np.array([r[name] for r in rounds["old"]])
        w = np.array([r[name] for r in rounds["new"]])
        print(f"{name:<30} {1e3 * np.median(o):>9.2f} {1e3 * np.median(w):>9.2f} {np.median(w / o):>8.2f}")


if __name__ == "__main__":
    main()
