"""--threads reaches JAX: XLA's intra-op pool of a JAX solver has --threads threads (threads.start_jax).
Before, XLA took every core whatever --threads said (the Eigen flags set for it change nothing in jax
0.10), so two one-thread jobs side by side ran four threads on two cores."""

import json
import os
import subprocess
import sys

import pytest
import yaml

SPEC = {"system": {"lattice": {"shape": [2], "boundary": "open"}, "couplings": {"Jz": 0.5}, "field": {"hx": 0.5},
                   "jumps": [{"op": "sigma_minus", "rate": 1.0}]},
        "task": {"kind": "steady"},
        "method": {"name": "cnn", "features": [2], "kernels": [2], "iterations": 2, "n_samples": 32, "n_chains": 4,
                   "obs_samples": 32, "obs_chains": 4},
        "observables": ["sz"], "seed": 0}


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs two CPUs to tell one XLA thread from all")
@pytest.mark.parametrize("threads", [1, 2])
def test_xla_pool_has_the_threads_asked_for(tmp_path, threads):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    out = tmp_path / "out" / "result.csv"
    proc = subprocess.run([sys.executable, "-m", "lindblad_nqs", "solve", str(path), "--out", str(out),
                           "--threads", str(threads)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    prov = json.loads(out.with_suffix(".json").read_text())
    assert prov["xla_threads"] == threads


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs two CPUs")
def test_every_thread_may_run_on_every_cpu_after_the_pool_is_sized():
    """The pinning that sizes the pool is undone for every thread: pinned jobs would share one core."""
    code = ("import glob, os; from lindblad_nqs.threads import start_jax, xla_threads; start_jax(1); "
            "import jax.numpy as jnp; (jnp.ones((64, 64)) @ jnp.ones((64, 64))).block_until_ready(); "
            "print(xla_threads(), min(len(os.sched_getaffinity(int(t.rsplit('/', 1)[1]))) "
            "for t in glob.glob('/proc/self/task/*')), len(os.sched_getaffinity(0)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    pool, fewest, allowed = map(int, proc.stdout.split())
    assert pool == 1 and fewest == allowed == len(os.sched_getaffinity(0))
