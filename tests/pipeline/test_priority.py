"""A run's `priority` reaches its solve jobs: among the jobs that are ready, Snakemake starts the higher
one first (the quick config starts its longest solves early, so that two cores are not left with one long
job at the end of the DAG)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lindblad_nqs import pipeline

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
RUN = {"system": {"lattice": {"shape": [2], "boundary": "open"}, "preset": {"name": "tfi", "V": 2.0, "g": 1.0, "gamma": 1.0}},
       "task": {"kind": "steady"}, "method": {"name": "exact"}, "observables": ["sz"]}
NAMES = ["r0", "r1", "r2"]


def _config(priority_of: dict) -> dict:
    return {"size": "quick", "systems": {}, "figures": {},
            "runs": {n: dict(RUN, **({"priority": priority_of[n]} if n in priority_of else {})) for n in NAMES}}


def test_priority_is_a_point_attribute():
    runs = pipeline.checked_runs(_config({"r2": 7}))
    assert runs["r2"]["base"].priority == 7 and runs["r0"]["base"].priority == 0


def _start_order(tmp_path, priority_of):
    shutil.copytree(ROOT / "workflow", tmp_path / "workflow")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "quick.yaml").write_text(yaml.safe_dump(_config(priority_of)))
    targets = [f"results/runs/{n}/base/result.csv" for n in NAMES]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([str(SNAKEMAKE), "--cores", "1", *targets], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # one core: the jobs ran one after another, so the order of their results' times is the start order
    done = {n: (tmp_path / t).stat().st_mtime_ns for n, t in zip(NAMES, targets)}
    return sorted(NAMES, key=done.get)


@pytest.mark.skipif(not SNAKEMAKE.exists(), reason="snakemake not installed beside the interpreter")
def test_the_higher_priority_job_starts_first(tmp_path):
    plain = _start_order(tmp_path / "plain", {})
    last = plain[-1]  # the job Snakemake starts last without priorities
    assert _start_order(tmp_path / "prio", {last: 10})[0] == last
