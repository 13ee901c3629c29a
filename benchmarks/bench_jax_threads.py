"""Does --threads reach JAX? A JAX solve with --threads 1 alone and two side by side, with XLA's pool
sized to one thread (threads.start_jax, the code path now) and without it (XLA takes every core, as
before), in one run on an otherwise idle machine.

The point is the quick config's mellak_tfi_cnn at g = 1.5 (6-site TFI ring, Hermitian CNN, NAGD+ 150
iterations, 1024 samples): results/runs/mellak_tfi_cnn/g=1.5/spec.yaml, written by `snakemake -n`.
Prints the wall and CPU seconds of each job and the per-job ratio side by side / alone.

    python benchmarks/bench_jax_threads.py [--spec PATH]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# the solve with threads.start_jax made a no-op: the old behaviour
UNSIZED = ("import sys, lindblad_nqs.threads as t; t.start_jax = lambda n: None; "
           "from lindblad_nqs.cli import main; sys.exit(main(sys.argv[1:]))")
SIZED = "import sys; from lindblad_nqs.cli import main; sys.exit(main(sys.argv[1:]))"


def start(code: str, spec: str, d: Path, cache: str):
    args = [sys.executable, "-c", code, "solve", spec, "--out", str(d / "result.csv"), "--state-dir", str(d / "state"),
            "--threads", "1"]
    return subprocess.Popen(args, env=dict(os.environ, LINDBLAD_NQS_JAX_CACHE=cache), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def run(code: str, spec: str, root: Path, cache: str, n: int) -> list[float]:
    """n jobs at once: the wall seconds until each had ended (CPU seconds: os.times() around the call)."""
    t0 = time.perf_counter()
    procs = [start(code, spec, root / f"job{i}", cache) for i in range(n)]
    out = []
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise SystemExit(f"solve failed: {err[-500:]}")
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default="results/runs/mellak_tfi_cnn/g=1.5/spec.yaml")
    a = ap.parse_args()
    if not Path(a.spec).is_file():
        raise SystemExit(f"{a.spec} not found: run `snakemake -n` first (it writes the run specs)")
    print(f"{os.cpu_count()} CPUs; spec {a.spec}")
    with tempfile.TemporaryDirectory() as tmp:
        cache = str(Path(tmp) / "jax-cache")
        run(SIZED, a.spec, Path(tmp) / "warm", cache, 1)  # compile once; every timed job reads the cache
        rows = {}
        for name, code in (("pool of 1 (now)", SIZED), ("every core (before)", UNSIZED)):
            for n in (1, 2):
                c0 = os.times()
                walls = run(code, a.spec, Path(tmp) / f"{name[:5]}{n}", cache, n)
                c1 = os.times()
                cpu = (c1.children_user + c1.children_system - c0.children_user - c0.children_system) / n
                rows[name, n] = (max(walls), cpu)
                print(f"{name:20s} {n} job(s) at once: {max(walls):6.1f} s wall per job, {cpu:6.1f} CPU s per job")
        for name in ("pool of 1 (now)", "every core (before)"):
            print(f"{name:20s} side by side / alone: {rows[name, 2][0] / rows[name, 1][0]:.2f}")
        print(f"two jobs at once, before / now: {rows['every core (before)', 2][0] / rows['pool of 1 (now)', 2][0]:.2f}")


if __name__ == "__main__":
    main()
