"""The exact steady-state solvers (issue 15, item 1): dense LU and the iterative solve agree with each
other and with QuTiP, the iterative path reports its iterations and residual, and `--threads` reaches
the thread pools of the solve."""

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from lindblad_nqs.checks import RunError
from lindblad_nqs.exact import steady
from lindblad_nqs.model import Jump, Lattice, SpinSystem

SYSTEMS = {
    "tfi ring 4": SpinSystem(Lattice((4,), True), (0.0, 0.0, 0.5), (0.5, 0, 0), (Jump("sigma_minus", 1.0),)),
    "heisenberg 2x2": SpinSystem(Lattice((2, 2), True), (0.9, 1.8, 1.0), (0, 0, 0), (Jump("sigma_minus", 1.0),)),
    # no symmetry but the reflection, no parity sector (hx with dephasing), two kinds of jumps
    "open chain 4, decay and dephasing": SpinSystem(Lattice((4,), False), (0.3, 0.0, 0.5), (1.0, 0, 0.2),
                                                    (Jump("sigma_minus", 1.0), Jump("sigma_z", 0.5))),
}


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_dense_iterative_and_qutip_agree(name):
    s = SYSTEMS[name]
    dense = steady.solve_sector(s, method="dense")
    it = steady.solve_sector(s, method="iterative")
    ref = steady.solve_qutip(s)
    assert dense.info["linear_solver"].startswith("dense")
    assert it.info["linear_solver"].startswith("BiCGSTAB")
    for sol in (dense, it):
        assert sol.relative_residual < 1e-10
        assert abs(np.trace(sol.rho) - 1) < 1e-12
        np.testing.assert_allclose(sol.rho, ref.rho, atol=1e-10, rtol=0)


def test_auto_picks_dense_for_small_and_iterative_for_large_sectors(monkeypatch):
    s = SYSTEMS["tfi ring 4"]
    assert steady.solve_sector(s).info["linear_solver"].startswith("dense")
    monkeypatch.setattr(steady, "DENSE_MAX_DIM", 5)
    assert steady.solve_sector(s).info["linear_solver"].startswith("BiCGSTAB")


def test_iterative_path_reports_iterations_and_its_residual():
    s = SYSTEMS["open chain 4, decay and dephasing"]
    sol = steady.solve_sector(s, method="iterative")
    assert sol.info["iterations"] > 0
    assert sol.info["iterative_relative_residual"] == pytest.approx(sol.relative_residual, rel=1e-6)
    # the reported residual is the true one: recompute it from rho with the dense Liouvillian
    from lindblad_nqs.exact.qutip_model import liouvillian

    L = liouvillian(s).full()
    vec = sol.rho.T.ravel()
    assert np.linalg.norm(L @ vec) / np.linalg.norm(sol.rho) == pytest.approx(sol.relative_residual, rel=0.5)  # rho is Hermitised after


def test_iterative_path_that_does_not_converge_says_so():
    with pytest.raises(RunError, match=r"did not converge in \d+ products .* relative residual"):
        steady.solve_sector(SYSTEMS["heisenberg 2x2"], method="iterative", max_matvecs=4)


def test_dense_path_refuses_a_singular_liouvillian():
    """sigma_z dephasing with a field along z: parity is conserved, two steady states. The dense solve
    (the conserved_quantity check bypassed) finds the reduced Liouvillian singular."""
    s = SpinSystem(Lattice((3,), True), (1.0, 1.0, 0.5), (0, 0, 0.3), (Jump("sigma_z", 1.0),))
    assert steady.conserved_quantity(s)
    sec = steady.SymmetricSector.build(s)
    with pytest.raises(RunError, match="not unique"):
        steady._dense_solve(*steady._trace_system(sec))


def test_memory_estimate_covers_the_dense_matrix():
    s = SYSTEMS["heisenberg 2x2"]
    dim = steady.estimated_dim(s, s.conserves_z_parity())
    assert steady.steady_bytes(s) > 2 * 16 * dim**2


def test_threads_reach_the_solve(tmp_path):
    """--threads 1 limits BLAS inside the solve (before this, the command line passed --threads to no
    library but QuTiP's map and torch); JAX's pool: tests/cli/test_threads.py."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "system": {"lattice": {"shape": [3], "boundary": "periodic"}, "couplings": {"Jz": 0.5},
                   "field": {"hx": 0.5}, "jumps": [{"op": "sigma_minus", "rate": 1.0}]},
        "task": {"kind": "steady"}, "method": {"name": "exact"}, "observables": ["sz"]}))
    out = tmp_path / "result.csv"
    env = {k: v for k, v in __import__("os").environ.items() if not k.endswith("_NUM_THREADS") and k != "XLA_FLAGS"}
    proc = subprocess.run([sys.executable, "-m", "lindblad_nqs", "solve", str(spec), "--out", str(out),
                           "--threads", "1"], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    prov = json.loads(out.with_suffix(".json").read_text())
    assert prov["threads"] == 1
    blas = [p for p in prov["thread_pools"] if p.split("=")[0] in ("openblas", "mkl", "blis")]
    assert blas and all(p.endswith("=1") for p in blas), prov["thread_pools"]
    assert prov["linear_solver"].startswith("dense") and prov["relative_residual"] < 1e-10
