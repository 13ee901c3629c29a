"""The exact trapezoid integrator (method exact, integrator trapezoid): the closed-form Crank-Nicolson
amplification factor on one spin, the dense Crank-Nicolson of QuTiP's Liouvillian on a chain, and second
order in the step against the exact propagator."""

import numpy as np
import pytest

from lindblad_nqs.exact.dynamics import dense_expect, evolve_sector, evolve_trapezoid
from lindblad_nqs.exact.expectation import pauli_expectation
from lindblad_nqs.model import Jump, Lattice, SpinSystem


def test_single_spin_decay_has_the_crank_nicolson_factor():
    """sigma^- at rate g: z + 1 decays at rate g and x at g / 2; one step of dt multiplies each by
    (1 - r dt / 2) / (1 + r dt / 2), not exp(-r dt)."""
    g, dt = 0.7, 0.25
    s = SpinSystem(Lattice((1,), False), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (Jump("sigma_minus", g),))
    t = dt * np.arange(9)
    n = np.arange(9)
    z = [pauli_expectation(rho, 1, {0: "z"}) for _, rho in evolve_trapezoid(s, "z+", t, dt)]
    np.testing.assert_allclose(z, 2 * ((1 - g * dt / 2) / (1 + g * dt / 2)) ** n - 1, atol=1e-12)
    x = [pauli_expectation(rho, 1, {0: "x"}) for _, rho in evolve_trapezoid(s, "x+", t, dt)]
    np.testing.assert_allclose(x, ((1 - g * dt / 4) / (1 + g * dt / 4)) ** n, atol=1e-12)


def test_chain_matches_dense_crank_nicolson_of_qutips_liouvillian():
    import qutip

    from lindblad_nqs.exact.qutip_model import collapse_operators, hamiltonian, product_ket

    s = SpinSystem(Lattice((3,), True), (20.0, 0.0, 10.0), (0.0, 0.0, 10.0), (Jump("sigma_minus", 1.0),))
    dt = 0.015
    L = qutip.liouvillian(hamiltonian(s), collapse_operators(s)).full()
    eye = np.eye(len(L))
    step = np.linalg.solve(eye - dt / 2 * L, eye + dt / 2 * L)
    psi = product_ket(s, "y-")
    vec = qutip.operator_to_vector(psi * psi.dag()).full().ravel()
    t = dt * np.arange(0, 11, 2)
    got = list(evolve_trapezoid(s, "y-", t, dt))
    for k, (tk, rho) in enumerate(got):
        ref = qutip.vector_to_operator(qutip.Qobj(np.linalg.matrix_power(step, 2 * k) @ vec,
                                                  dims=[[[2] * 3, [2] * 3], [1]])).full()
        np.testing.assert_allclose(rho, ref, atol=1e-10)


def test_second_order_in_the_step():
    s = SpinSystem(Lattice((2, 2), True), (0.9, 1.8, 1.0), (0.0, 0.0, 0.0), (Jump("sigma_minus", 1.0),))
    t = np.array([0.0, 0.8])
    exact = dense_expect(list(evolve_sector(s, "z+", t))[-1][1], 4)({0: "z"})
    errs = [abs(dense_expect(list(evolve_trapezoid(s, "z+", t, dt))[-1][1], 4)({0: "z"}) - exact)
            for dt in (0.1, 0.05)]
    assert errs[0] > 1e-4
    assert errs[0] / errs[1] == pytest.approx(4.0, rel=0.1)


def test_save_time_off_the_step_is_refused():
    s = SpinSystem(Lattice((1,), False), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (Jump("sigma_minus", 1.0),))
    with pytest.raises(ValueError, match="not a multiple"):
        list(evolve_trapezoid(s, "z+", np.array([0.0, 0.15]), 0.1))
