"""`lindblad-nqs solve` of one spec in its own directory, single-threaded, for the benchmark scripts that
run many points side by side: d/spec.yaml, d/result.csv, d/state, d/solve.log and d/wall_s.txt."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

# --threads 1 sets these and XLA's pool (threads.start_jax) in the solve; set here for what the benchmark imports
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def solve_dir(d: Path, spec: dict, init_state: Path | None = None, python: str = sys.executable) -> int:
    """Write spec to d and solve it there, from init_state (another run's state dir) if given, with the
    lindblad_nqs of `python`'s environment; the exit status (its output is in d/solve.log)."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    cmd = [python, "-m", "lindblad_nqs", "solve", str(d / "spec.yaml"), "--out", str(d / "result.csv"),
           "--state-dir", str(d / "state"), "--threads", "1"]
    if init_state is not None:
        cmd += ["--init-state", str(init_state)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=dict(os.environ, **ONE_THREAD), capture_output=True, text=True)
    (d / "wall_s.txt").write_text(f"{time.perf_counter() - t0:.1f}\n")
    (d / "solve.log").write_text(r.stdout + r.stderr)
    return r.returncode
