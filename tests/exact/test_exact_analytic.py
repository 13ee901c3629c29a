"""Exact dynamics and steady states against closed forms that do not use QuTiP or the package."""

import numpy as np
import pytest

from lindblad_nqs.exact.dynamics import dense_expect, evolve_mesolve, evolve_sector, trajectories
from lindblad_nqs.exact.expectation import pauli_expectation
from lindblad_nqs.exact.steady import solve_sector
from lindblad_nqs.model import Jump, Lattice, SpinSystem


def single_spin(h=(0.0, 0.0, 0.0), jumps=()):
    return SpinSystem(Lattice((1,), False), (0.0, 0.0, 0.0), h, tuple(jumps))


@pytest.mark.parametrize("evolve", [evolve_sector, evolve_mesolve])
def test_single_spin_decay(evolve):
    """sigma^- at rate g from |up>: <Z>(t) = 2 exp(-g t) - 1; from x+: <X>(t) = exp(-g t / 2)."""
    g = 0.7
    s = single_spin(jumps=[Jump("sigma_minus", g)])
    t = np.linspace(0, 3, 13)
    z = [pauli_expectation(rho, 1, {0: "z"}) for _, rho in evolve(s, "z+", t)]
    np.testing.assert_allclose(z, 2 * np.exp(-g * t) - 1, atol=1e-7)
    x = [pauli_expectation(rho, 1, {0: "x"}) for _, rho in evolve(s, "x+", t)]
    np.testing.assert_allclose(x, np.exp(-g * t / 2), atol=1e-7)


def test_single_spin_dephasing_with_precession():
    """L = Z at rate k and H = h Z from x+: <X> + i<Y> = exp(-2 k t) exp(2 i h t)."""
    k, h = 0.3, 1.1
    s = single_spin(h=(0, 0, h), jumps=[Jump("sigma_z", k)])
    t = np.linspace(0, 4, 17)
    states = [rho for _, rho in evolve_sector(s, "x+", t)]
    x = np.array([pauli_expectation(r, 1, {0: "x"}) for r in states])
    y = np.array([pauli_expectation(r, 1, {0: "y"}) for r in states])
    np.testing.assert_allclose(x + 1j * y, np.exp(-2 * k * t) * np.exp(2j * h * t), atol=1e-9)


def test_driven_damped_spin_steady_state():
    """H = (Omega/2) X, decay at rate g: <Z>_ss = -g^2 / (g^2 + 2 Omega^2) (resonance fluorescence)."""
    omega, g = 1.3, 0.8
    s = single_spin(h=(omega / 2, 0, 0), jumps=[Jump("sigma_minus", g)])
    rho = solve_sector(s).rho
    assert pauli_expectation(rho, 1, {0: "z"}) == pytest.approx(-g**2 / (g**2 + 2 * omega**2), abs=1e-12)
    assert pauli_expectation(rho, 1, {0: "y"}) == pytest.approx(2 * omega * g / (g**2 + 2 * omega**2), abs=1e-12)


def dense_nullspace_steady_state(system):
    """Independent reference: the null vector of the Liouvillian built by hand from Kronecker products."""
    n = system.n_sites
    D = 2**n
    I2, X = np.eye(2), np.array([[0, 1], [1, 0]], complex)
    Y, Z = np.array([[0, -1j], [1j, 0]]), np.diag([1.0 + 0j, -1.0])
    P = {"x": X, "y": Y, "z": Z}

    def op(ops):
        out = np.array([[1.0 + 0j]])
        for i in range(n):
            out = np.kron(out, ops.get(i, I2))
        return out

    H = sum(c * op({i: P[a], j: P[a]}) for i, j in system.lattice.bonds for a, c in zip("xyz", system.J))
    H = H + sum(c * op({i: P[a]}) for i in range(n) for a, c in zip("xyz", system.h))
    eye = np.eye(D)
    L = -1j * (np.kron(H, eye) - np.kron(eye, H.T))
    for j in system.jumps:
        for i in range(n):
            A = np.sqrt(j.rate) * op({i: j.matrix})
            AdA = A.conj().T @ A
            L += np.kron(A, A.conj()) - 0.5 * np.kron(AdA, eye) - 0.5 * np.kron(eye, AdA.T)
    _, _, vh = np.linalg.svd(L)
    rho = vh[-1].conj().reshape(D, D)
    return rho / np.trace(rho)


def test_two_site_steady_state_against_dense_nullspace():
    s = SpinSystem(Lattice((2,), False), (0.9, 1.8, 1.0), (0.3, 0.0, 0.5),
                   (Jump("sigma_minus", 1.0), Jump("sigma_z", 0.4)))
    np.testing.assert_allclose(solve_sector(s).rho, dense_nullspace_steady_state(s), atol=1e-10)


@pytest.mark.parametrize("shape,periodic,J,h,jumps", [
    ((2, 2), True, (0.9, 1.8, 1.0), (0, 0, 0), [("sigma_minus", 1.0)]),
    ((2, 2), False, (0.9, 1.4, 1.0), (0, 0, 0.2), [("sigma_minus", 1.0), ("sigma_z", 0.3)]),
    ((5,), False, (0.0, 0.0, 0.5), (1.0, 0, 0), [("sigma_minus", 1.0), ("sigma_z", 0.5)]),
    ((5,), True, (2.0, 0.0, 1.0), (0, 0, 1.0), [("sigma_minus", 1.0)]),
    ((4,), True, (-0.5, 0.0, 0.0), (0, 0, 0.5), [("sigma_minus", 1.0), ("sigma_plus", 0.2)]),
])
def test_sector_steady_state_matches_dense_solve(shape, periodic, J, h, jumps):
    """The symmetry-reduced solver agrees with an unreduced dense null-space solve to 1e-8."""
    s = SpinSystem(Lattice(shape, periodic), J, h, tuple(Jump(o, r) for o, r in jumps))
    ss = solve_sector(s)
    np.testing.assert_allclose(ss.rho, dense_nullspace_steady_state(s), atol=1e-8)
    assert ss.relative_residual < 1e-10
    assert ss.sector_dim < 4**s.n_sites


def test_sector_dynamics_matches_mesolve_on_2x2():
    s = SpinSystem(Lattice((2, 2), True), (0.9, 1.8, 1.0), (0.2, 0, 0), (Jump("sigma_minus", 1.0),))
    t = np.linspace(0, 1.5, 7)
    for (_, a), (_, b) in zip(evolve_sector(s, "y-", t), evolve_mesolve(s, "y-", t)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_trajectories_agree_with_exact_within_errors():
    s = SpinSystem(Lattice((3,), True), (2.0, 0.0, 1.0), (0, 0, 1.0), (Jump("sigma_minus", 1.0),))
    t = np.linspace(0, 1.5, 6)
    strings = [{0: "z"}, {0: "y"}, {0: "x", 1: "x"}]
    mean, err, runs, ntraj = trajectories(s, "y-", t, strings, ntraj=300, seed=3)
    assert ntraj == 300 and runs.shape == (3, 300, 6)
    exact = np.array([[dense_expect(rho, 3)(st) for _, rho in evolve_sector(s, "y-", t)] for st in strings])
    z = np.abs(mean - exact)[:, 1:] / err[:, 1:]
    assert np.all(z < 4.5), z  # 15 comparisons: a correct estimator exceeds 4.5 sigma with prob ~1e-4
    assert np.all(err[:, 1:] > 0)


def test_relaxation_path_agrees_with_lu(monkeypatch):
    """The large-sector path (the iterative solve) reaches the dense LU answer on a system both can do."""
    from lindblad_nqs.exact import steady

    s = SpinSystem(Lattice((5,), False), (0.0, 0.0, 0.5), (1.0, 0, 0), (Jump("sigma_minus", 1.0), Jump("sigma_z", 0.5)))
    lu = steady.solve_sector(s)
    monkeypatch.setattr(steady, "DENSE_MAX_DIM", 0)
    relaxed = steady.solve_sector(s, tol=1e-11)
    assert relaxed.relative_residual < 1e-11
    np.testing.assert_allclose(relaxed.rho, lu.rho, atol=1e-9)


def test_parallel_trajectories_through_the_cli(tmp_path):
    """Two worker processes (QuTiP's parallel map) give a valid estimate. Run in a fresh process, as the
    pipeline does: forking a process that has JAX loaded (other tests import it) can deadlock."""
    import subprocess
    import sys

    import pandas as pd

    spec = tmp_path / "spec.yaml"
    spec.write_text("system: {lattice: {shape: [2], boundary: periodic}, couplings: {Jx: 1.0, Jz: 0.5},\n"
                    "         field: {hz: 0.5}, jumps: [{op: sigma_minus, rate: 1.0}]}\n"
                    "task: {kind: dynamics, t_final: 1.0, dt: 0.5, initial: {product: z+}}\n"
                    "method: {name: mcwf, ntraj: 200}\nobservables: [sz]\nseed: 5\n")
    out = tmp_path / "r.csv"
    subprocess.run([sys.executable, "-m", "lindblad_nqs", "solve", str(spec), "--out", str(out), "--threads", "2"],
                   check=True, capture_output=True)
    df = pd.read_csv(out)
    s = SpinSystem(Lattice((2,), True), (1.0, 0.0, 0.5), (0, 0, 0.5), (Jump("sigma_minus", 1.0),))
    exact = [dense_expect(rho, 2)({0: "z"}) for _, rho in evolve_sector(s, "z+", np.array([0.0, 0.5, 1.0]))]
    assert np.all(df["stderr"].iloc[1:] > 0)
    assert np.all(np.abs(df["value"].to_numpy()[1:] - exact[1:]) < 4.5 * df["stderr"].to_numpy()[1:])
