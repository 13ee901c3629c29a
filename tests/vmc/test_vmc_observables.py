"""Observables from the diagonal sampler equal exact expectations, for positive and for sign-carrying
density matrices, with honest error bars and the reported non-positive weight."""

import functools

import jax
import numpy as np

from lindblad_nqs.exact.expectation import pauli_expectation
from lindblad_nqs.exact.steady import solve_sector
from lindblad_nqs.model import HADAMARD, Jump, Lattice, SpinSystem
from lindblad_nqs.observables import evaluate, parse_observable
from lindblad_nqs.vmc.observables import estimate
from lindblad_nqs.vmc.sampling import MetropolisSampler, prng_key
from lindblad_nqs.vmc.table import table_log_rho, table_params

N = 3
SYSTEM = SpinSystem(Lattice((N,), True), (0.5, 0.0, 0.5), (0.7, 0.0, 0.0), (Jump("sigma_minus", 1.0),))
NAMES = ["sx", "sy", "sz", "sxsx:1", "szsz:1", "sysy:0,2", "szsz_c:1"]


def run(rho, seed, basis="z"):
    """Estimates from the network state `rho` (written in `basis`) and the exact values of the physical
    state, which for basis x is U rho U with the Hadamard U on every site."""
    obs = [parse_observable(o, SYSTEM.lattice) for o in NAMES]
    lr = table_log_rho(N)
    params = table_params(rho)
    s = MetropolisSampler(lr, N, 128, "diagonal", 1.0)
    _, b = s.sample(params, s.init_state(prng_key(seed)), prng_key(seed + 1), 160, 20)
    rows, info = estimate(jax.jit(lr), params, np.asarray(b.x), np.asarray(b.log_rho), obs, basis=basis)
    phys = rho
    if basis == "x":
        U = functools.reduce(np.kron, [HADAMARD] * N)
        phys = U @ rho @ U
    exact = {o.name: evaluate(o, lambda st: pauli_expectation(phys / np.trace(phys), N, st)) for o in obs}
    return rows, info, exact


def test_diagonal_estimator_matches_exact_steady_state():
    rho = solve_sector(SYSTEM).rho
    rows, info, exact = run(rho, 0)
    z = [(rows[k][0] - exact[k]) / rows[k][1] for k in exact]
    assert max(abs(v) for v in z) < 4.5, dict(zip(exact, z))
    assert all(0 < rows[k][1] < 0.03 for k in exact)
    assert info["neg_weight"] == 0 and abs(info["mean_sign"] - 1) < 1e-6


def test_x_basis_estimates_are_those_of_the_rotated_back_state():
    """A state stored in the Hadamard basis (the steady state of the rotated model) is measured as the
    physical state U rho U: sx reads the stored Z, sy changes sign, sz reads the stored X. The state has
    <Y> != 0, so a lost sign fails."""
    rho_x = solve_sector(SYSTEM.in_x_basis()).rho
    rows, _, exact = run(rho_x, 5, basis="x")
    assert abs(exact["sy"]) > 0.05 and abs(exact["sx"] - exact["sz"]) > 0.05
    for k in exact:
        assert abs(rows[k][0] - exact[k]) < 4.5 * rows[k][1] + 1e-3, (k, rows[k], exact[k])
    # and it is the physical steady state of the unrotated model
    phys = {o: evaluate(parse_observable(o, SYSTEM.lattice),
                        lambda st: pauli_expectation(solve_sector(SYSTEM).rho, N, st)) for o in NAMES}
    for k in exact:
        assert abs(exact[k] - phys[k]) < 1e-8, k


def test_diagonal_estimator_carries_phase_and_sign():
    rho = solve_sector(SYSTEM).rho * np.exp(0.7j)  # a global phase changes nothing physical
    rows, info, exact = run(rho, 2)
    for k in exact:
        assert abs(rows[k][0] - exact[k]) < 4.5 * rows[k][1] + 1e-3, k
    # a non-positive 'density matrix': flip the sign of some diagonal elements
    rho = solve_sector(SYSTEM).rho.copy()
    d = np.arange(2**N)
    neg = d[[1, 6]]
    rho[neg, neg] *= -1
    rows, info, exact = run(rho, 4)
    for k in exact:
        assert abs(rows[k][0] - exact[k]) < 4.5 * rows[k][1] + 1e-3, k
    share = np.abs(np.diag(rho))[neg].sum() / np.abs(np.diag(rho)).sum()
    assert abs(info["neg_weight"] - share) < 0.02, (info["neg_weight"], share)
    assert info["mean_sign"] < 1 - share


def test_parity_sector_strings_vanish_outside_the_trained_sector():
    """Inside the Z-parity sector only the sector's elements are trained: with junk outside it, odd
    strings must come out exactly 0 when the sector is declared, and wrong otherwise."""
    from lindblad_nqs.vmc.configs import all_doubled, in_parity_sector

    system = SpinSystem(Lattice((N,), True), (0.5, 0.8, 1.0), (0.0, 0.0, 0.3), (Jump("sigma_minus", 1.0),))
    rho = solve_sector(system).rho
    junk = np.where(in_parity_sector(all_doubled(N)).reshape(2**N, 2**N), rho, 0.3)
    obs = [parse_observable(o, system.lattice) for o in ["sx", "sz", "sxsx:1"]]
    lr = table_log_rho(N)
    params = table_params(junk)
    s = MetropolisSampler(lr, N, 64, "diagonal", 1.0)
    _, b = s.sample(params, s.init_state(prng_key(7)), prng_key(8), 100, 20)
    ok, _ = estimate(jax.jit(lr), params, np.asarray(b.x), np.asarray(b.log_rho), obs, parity_sector=True)
    bad, _ = estimate(jax.jit(lr), params, np.asarray(b.x), np.asarray(b.log_rho), obs, parity_sector=False)
    assert ok["sx"] == (0.0, 0.0) and abs(bad["sx"][0]) > 0.1
    ex = {o.name: evaluate(o, lambda st: pauli_expectation(rho, N, st)) for o in obs}
    for k in ("sz", "sxsx:1"):
        assert abs(ok[k][0] - ex[k]) < 4.5 * ok[k][1] + 1e-3, k
