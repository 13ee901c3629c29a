"""What counting the accepted moves per kind costs the doubled Metropolis sampler: the sampler of an older
revision (one total count) and this one (proposed and accepted per move kind), back to back in one process
on the same network, chains and keys, rounds alternated.

    python benchmarks/bench_move_counts.py                    # old = ca4184d, the quick TFI CNN (6 spins)
    python benchmarks/bench_move_counts.py --old-rev REV --repeat 20

The network is the quick config's mellak_tfi_cnn at g = 0.5 (its initial parameters); the batch is one training
iteration's draw (n_samples 1024 over 32 chains, sweep 2N), the shape the steady driver samples every iteration.
Then the driver's collapse check (vmc.driver.chain_collapse) on that draw, which runs once per run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def old_sampling(rev: str):
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:src/lindblad_nqs/vmc/sampling.py"],
                         check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "sampling_old.py"
    path.write_text(src.replace("from .configs import", "from lindblad_nqs.vmc.configs import"))
    spec = importlib.util.spec_from_file_location("sampling_old", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["sampling_old"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old-rev", default="ca4184d")
    ap.add_argument("--repeat", type=int, default=10)
    a = ap.parse_args()

    import jax
    import jax.numpy as jnp

    from lindblad_nqs.pipeline import expand_runs
    from lindblad_nqs.solvers.steady_l2 import _check, cnn_module
    from lindblad_nqs.spec import parse_spec
    from lindblad_nqs.vmc import sampling as new

    cfg = yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())
    spec = parse_spec(json.loads(json.dumps(expand_runs(cfg)["mellak_tfi_cnn"]["g=0.5"].spec)))
    p = _check(spec)
    n = spec.system.n_sites
    mod = cnn_module(spec, p)
    params = jax.jit(mod.init)(new.prng_key(0), jnp.zeros((1, 2, n), jnp.int8))
    log_rho = mod.apply
    per_chain = -(-p["n_samples"] // p["n_chains"])
    old = old_sampling(a.old_rev)
    samplers = {"old": old.MetropolisSampler(log_rho, n, p["n_chains"], "doubled", 2 * p["beta"]),
                "new": new.MetropolisSampler(log_rho, n, p["n_chains"], "doubled", 2 * p["beta"])}
    x0 = samplers["new"].init_state(new.prng_key(1))
    for s in samplers.values():  # compile
        jax.block_until_ready(s.sample(params, x0, new.prng_key(2), per_chain)[1].x)
    times = {k: [] for k in samplers}
    for r in range(a.repeat):
        for k in (("old", "new") if r % 2 == 0 else ("new", "old")):
            t0 = time.perf_counter()
            _, b = samplers[k].sample(params, x0, new.prng_key(3 + r), per_chain)
            jax.block_until_ready(b.x)
            times[k].append(time.perf_counter() - t0)
    _, b_old = samplers["old"].sample(params, x0, new.prng_key(99), per_chain)
    _, b_new = samplers["new"].sample(params, x0, new.prng_key(99), per_chain)
    same = bool(np.array_equal(np.asarray(b_old.x), np.asarray(b_new.x)))
    med = {k: float(np.median(v)) for k, v in times.items()}
    # the driver's collapse check on the final draw (the probes' log rho compiles once for their shape)
    from lindblad_nqs.vmc.driver import chain_collapse

    f = jax.jit(log_rho)
    chunk = max(2, -(-p["track_samples"] // p["obs_chains"])) * p["obs_chains"]  # the driver's Observer.chunk
    jax.block_until_ready(f(params, jnp.zeros((chunk, 2, n), jnp.int8)))  # the observables compile it anyway
    check = []
    for _ in range(3):
        t0 = time.perf_counter()
        info = chain_collapse(f, params, b_new, samplers["new"], chunk=chunk)
        check.append(time.perf_counter() - t0)
    print(f"collapse check (log rho in the observables' chunks of {chunk}): first call {check[0] * 1e3:.0f} ms, "
          f"then {np.median(check[1:]) * 1e3:.1f} ms; l2 flip acceptance {info['final_l2_flip_acceptance']:.3g}")
    print(f"{n} spins, {p['n_chains']} chains x {per_chain} samples, sweep {samplers['new'].sweep}; "
          f"median of {a.repeat} draws: old {med['old'] * 1e3:.2f} ms, new {med['new'] * 1e3:.2f} ms, "
          f"new/old {med['new'] / med['old']:.3f}; same samples: {same}; acceptance old {b_old.acceptance:.4f} "
          f"new {b_new.acceptance:.4f}, by move {b_new.acceptance_by_move}")


if __name__ == "__main__":
    main()
