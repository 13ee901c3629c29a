"""The DAG's bookkeeping: run specs by a `run:` rule (before issue 15) against specs written at DAG
construction (now), measured in one run on two clean clones of this repository.

    python benchmarks/bench_dag.py                 # 8 spec jobs of the old workflow; the new one writes all
    python benchmarks/bench_dag.py --old-jobs 20 --old-commit 9f2cecf

For the old workflow it times `snakemake --cores 2` on N spec.yaml targets (each a `run:` job, which
Snakemake runs as a subprocess that parses the workflow again), and its dry run; for the new one the
dry run of a fresh clone (which writes every spec) and a second dry run (nothing written). Neither
solves anything. Run it on a quiet machine for absolute numbers; the ratios hold on a loaded one.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def _clone(commit: str, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", commit], check=True)
    return dest


def _run(cwd: Path, *args) -> tuple[float, str]:
    env = dict(os.environ, PYTHONPATH=str(cwd / "src"))  # the clone's package, not the editable install's
    t = time.perf_counter()
    proc = subprocess.run([SNAKEMAKE, "--cores", "2", *args], cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed in {cwd}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return wall, proc.stdout + proc.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old-commit", default="9f2cecf", help="a commit with the materialise_spec rule")
    ap.add_argument("--new-commit", default="HEAD")
    ap.add_argument("--old-jobs", type=int, default=8, help="spec jobs of the old workflow to time")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_dag_"))
    try:
        old = _clone(args.old_commit, tmp / "old")
        new = _clone(args.new_commit, tmp / "new")
        t_old_dry, out = _run(old, "-n")
        n_specs = int(re.search(r"^materialise_spec\s+(\d+)$", out, re.M)[1])
        targets = sorted(set(re.findall(r"output: (results/runs/\S+/spec\.yaml)", out)))[: args.old_jobs]
        t_old_specs, _ = _run(old, *targets)
        per_job = max(0.0, t_old_specs - t_old_dry) / len(targets)  # less the DAG construction of that call
        t_new_first, _ = _run(new, "-n")
        n_written = len(list((new / "results/runs").rglob("spec.yaml")))
        t_new_again, _ = _run(new, "-n")
        print(f"old ({args.old_commit}): dry run {t_old_dry:.1f} s; {len(targets)} of its {n_specs} spec jobs on 2 "
              f"cores {t_old_specs:.1f} s wall ({per_job:.1f} s per job, about {per_job * n_specs:.0f} s of wall "
              f"for all {n_specs})")
        print(f"new ({args.new_commit}): first dry run {t_new_first:.1f} s (wrote {n_written} specs), second "
              f"{t_new_again:.1f} s (wrote none)")
        print(f"bookkeeping of all specs: old about {per_job * n_specs:.0f} s, new {t_new_first - t_new_again:.1f} s "
              f"over a dry run")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
