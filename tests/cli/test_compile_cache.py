"""Every JAX solver writes its programs to the persistent compilation cache (compile_cache.py), from
which the next process of the same shapes reads them. reh2021's rnn_tdvp and the floors compiled
everything afresh in every job until they called it too."""

import os
import subprocess
import sys

import pytest
import yaml

SYSTEM = {"lattice": {"shape": [2], "boundary": "open"}, "couplings": {"Jz": 0.5}, "field": {"hx": 0.5},
          "jumps": [{"op": "sigma_minus", "rate": 1.0}]}
SPECS = {
    "rnn_tdvp": {"task": {"kind": "dynamics", "t_final": 0.02, "dt": 0.01, "save_every": 0.02,
                          "initial": {"product": "y-"}},
                 "method": {"name": "rnn_tdvp", "hidden": 2, "n_samples": 50, "obs_samples": 50, "integrator": "rk4"}},
    "cnn": {"task": {"kind": "steady"},
            "method": {"name": "cnn", "features": [2], "kernels": [2], "iterations": 2, "n_samples": 32,
                       "n_chains": 4, "obs_samples": 32, "obs_chains": 4}},
}


@pytest.mark.parametrize("method", sorted(SPECS))
def test_a_jax_solver_writes_the_persistent_cache(tmp_path, method):
    spec = dict(SPECS[method], system=SYSTEM, observables=["sz"], seed=0)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    cache = tmp_path / "cache"
    env = dict(os.environ, LINDBLAD_NQS_JAX_CACHE=str(cache))
    proc = subprocess.run([sys.executable, "-m", "lindblad_nqs", "solve", str(path), "--out",
                           str(tmp_path / "out" / "result.csv")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert cache.is_dir() and any(cache.iterdir()), f"{method} wrote nothing to {cache}"
