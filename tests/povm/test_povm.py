"""The POVM layer: frames, the local POVM Lindbladian against the doubled-basis and QuTiP Liouvillians,
observables from POVM distributions."""

import numpy as np
import pytest

from lindblad_nqs.exact.expectation import pauli_expectation
from lindblad_nqs.liouvillian import dense_liouvillian
from lindblad_nqs.model import PRODUCT_STATES, Jump, Lattice, SpinSystem
from lindblad_nqs.observables import evaluate, parse_observable
from lindblad_nqs.povm import POVMLindbladian, all_strings, estimate, get_povm, string_index

POVMS = ["tetrahedral", "pauli4"]


def random_rho(n, rng):
    d = 2**n
    A = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    rho = A @ A.conj().T
    return rho / np.trace(rho)


def system(shape, periodic=True, J=(0.9, 1.3, 1.0), h=(0.3, -0.2, 0.7),
           jumps=(("sigma_minus", 1.0), ("sigma_z", 0.4))):
    return SpinSystem(Lattice(shape, periodic), J, h, tuple(Jump(o, r) for o, r in jumps))


@pytest.mark.parametrize("name", POVMS)
def test_frame_is_informationally_complete(name):
    povm = get_povm(name)
    M, N = povm.M, povm.N
    assert np.allclose(M.sum(axis=0), np.eye(2), atol=1e-14)
    for m in M:  # positive semidefinite and Hermitian
        assert np.allclose(m, m.conj().T)
        assert np.linalg.eigvalsh(m).min() > -1e-14
    # the four frame operators span the 4-dimensional space of 2x2 matrices
    assert np.linalg.matrix_rank(M.reshape(4, 4), tol=1e-10) == 4
    assert np.allclose(np.einsum("aij,bji->ab", M, N), np.eye(4), atol=1e-12)
    assert np.allclose(np.trace(N, axis1=1, axis2=2), 1.0)


def test_tetrahedral_frame_is_symmetric():
    T = get_povm("tetrahedral").T
    # SIC: Tr(M_a M_b) = (1 + 3 delta_ab) / 12 ... i.e. 1/4 on the diagonal, 1/12 off it
    assert np.allclose(np.diag(T), 0.25)
    assert np.allclose(T[~np.eye(4, dtype=bool)], 1 / 12)


@pytest.mark.parametrize("name", POVMS)
def test_p_to_rho_to_p_is_identity(name):
    rng = np.random.default_rng(1)
    povm = get_povm(name)
    rho = random_rho(2, rng)
    p = povm.probabilities(rho)
    assert np.all(p > 0) and np.isclose(p.sum(), 1.0)
    assert np.allclose(povm.density_matrix(p), rho, atol=1e-12)
    q = rng.normal(size=16)  # any real vector: p -> rho -> p is the identity (the frame is minimal)
    assert np.allclose(povm.probabilities(povm.density_matrix(q)), q, atol=1e-12)


@pytest.mark.parametrize("name", POVMS)
@pytest.mark.parametrize("label", list(PRODUCT_STATES))
def test_product_state_probabilities(name, label):
    povm = get_povm(name)
    p1 = povm.product_probabilities(label)
    assert np.isclose(p1.sum(), 1.0) and np.all(p1 >= -1e-15)
    ket = PRODUCT_STATES[label]
    p2 = np.kron(p1, p1)
    assert np.allclose(povm.density_matrix(p2), np.kron(np.outer(ket, ket.conj()), np.outer(ket, ket.conj())))


CASES = [((3,), True), ((3,), False), ((2, 2), True), ((2,), False), ((1,), True)]


@pytest.mark.parametrize("name", POVMS)
@pytest.mark.parametrize("shape,periodic", CASES)
def test_povm_lindbladian_matches_doubled_basis(name, shape, periodic):
    """dp/dt = L p(rho) equals the POVM image of L rho for random rho."""
    rng = np.random.default_rng(7)
    sysm = system(shape, periodic)
    n = sysm.n_sites
    povm = get_povm(name)
    Lp = POVMLindbladian(sysm, povm)
    Lrho = dense_liouvillian(sysm)
    for _ in range(2):
        rho = random_rho(n, rng)
        p = povm.probabilities(rho)
        drho = (Lrho @ rho.ravel()).reshape(rho.shape)  # row-major vec
        expected = povm.probabilities(drho)
        a = all_strings(n)
        got = Lp.apply(lambda b: p[string_index(b)], a)
        assert np.allclose(got, expected, atol=1e-12)
        assert np.allclose(Lp.dense() @ p, expected, atol=1e-12)


@pytest.mark.parametrize("name", POVMS)
def test_povm_lindbladian_matches_qutip(name):
    import qutip

    from lindblad_nqs.exact.qutip_model import liouvillian

    rng = np.random.default_rng(3)
    sysm = system((2, 2), True, J=(1.0, 0.4, -0.5), h=(0.0, 0.5, 1.0), jumps=(("sigma_plus", 0.7), ("sigma_x", 0.3)))
    povm = get_povm(name)
    L = liouvillian(sysm).full()
    rho = random_rho(4, rng)
    # QuTiP stacks columns: vec(rho) = rho.T.ravel()
    drho = (L @ rho.T.ravel()).reshape(16, 16).T
    assert np.allclose(POVMLindbladian(sysm, povm).dense() @ povm.probabilities(rho), povm.probabilities(drho),
                       atol=1e-12)
    assert qutip is not None


@pytest.mark.parametrize("name", POVMS)
def test_generator_preserves_normalisation_and_folding_is_exact(name):
    sysm = system((3,), True)
    a = POVMLindbladian(sysm, name).dense()
    b = POVMLindbladian(sysm, name, fold_sites=False).dense()
    assert np.allclose(a.sum(axis=0), 0.0, atol=1e-12)  # sum_a L_a^b = 0
    assert np.allclose(a, b, atol=1e-13)


def test_connected_counts():
    """sum_b L_a^b p(b) from the padded connected strings equals the dense generator; the padding is
    at most 15 off-diagonal strings per bond (single-site terms folded into bonds)."""
    sysm = system((5,), True)
    Lp = POVMLindbladian(sysm, "tetrahedral")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, size=(7, 5))
    b, mel = Lp.connected(a)
    assert b.shape[1] == Lp.max_connections <= 1 + 15 * len(sysm.lattice.bonds)
    assert np.all(b[:, 0] == a)
    p = rng.random(4**5)
    want = Lp.dense()[string_index(a)] @ p
    got = np.sum(mel * p[string_index(b.reshape(-1, 5))].reshape(mel.shape), axis=1)
    assert np.allclose(got, want)


@pytest.mark.parametrize("name", POVMS)
def test_observables_from_povm_distribution(name):
    rng = np.random.default_rng(5)
    lat = Lattice((2, 2), True)
    povm = get_povm(name)
    rho = random_rho(4, rng)
    p = povm.probabilities(rho)
    a = all_strings(4)
    expect = lambda s: pauli_expectation(rho, 4, s)  # noqa: E731
    for name_ in ["sx", "sy", "sz", "sz:2", "sxsx:1", "szsz_c:1", "sysy:0,3", "szsz_c:1,2"]:
        obs = parse_observable(name_, lat)
        value, err = estimate(povm, obs, a, weights=p)
        assert np.isclose(value, evaluate(obs, expect), atol=1e-12), name_
        assert err == 0.0


def test_observable_samples_are_unbiased():
    """Monte Carlo estimates from exact samples of p(rho) lie within 5 standard errors."""
    rng = np.random.default_rng(11)
    lat = Lattice((3,), False)
    povm = get_povm("tetrahedral")
    rho = random_rho(3, rng)
    p = povm.probabilities(rho)
    a = all_strings(3)[rng.choice(64, size=20000, p=p / p.sum())]
    expect = lambda s: pauli_expectation(rho, 3, s)  # noqa: E731
    for name_ in ["sx", "sy", "sz", "szsz:1", "sxsx_c:1"]:
        obs = parse_observable(name_, lat)
        value, err = estimate(povm, obs, a)
        assert err > 0
        assert abs(value - evaluate(obs, expect)) < 5 * err, name_
