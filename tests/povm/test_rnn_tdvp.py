"""rnn_tdvp (reh2021): the RNN's normalisation and sampler, the JAX POVM applier, the exact TDVP limit."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from lindblad_nqs.nets.rnn import LogProbTable, POVMRNN  # noqa: E402
from lindblad_nqs.povm.frames import get_povm  # noqa: E402
from lindblad_nqs.povm.lindbladian import POVMLindbladian, all_strings, string_index  # noqa: E402
from lindblad_nqs.povm_tdvp import POVMApplier, make_rhs  # noqa: E402
from lindblad_nqs.spec import parse_system  # noqa: E402
from lindblad_nqs.variational import tdvp  # noqa: E402
from lindblad_nqs.variational.integrators import evolve  # noqa: E402
from lindblad_nqs.variational.state import FlatState  # noqa: E402
from conftest import assert_resume_equals_uninterrupted, solve_cli  # noqa: E402  (tests/conftest.py, shared helpers)

SYSTEM = {"lattice": {"shape": [3], "boundary": "periodic"},
          "preset": {"name": "heisenberg", "Jx": 2.0, "Jy": 0.0, "Jz": 1.0, "B": 1.0, "gamma": 1.0}}


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _rnn(n, cell, noise=0.5, depth=2, product=None, seed=0, **kw):
    m = POVMRNN(n, hidden=6, depth=depth, cell=cell, init_noise=noise, product=product, **kw)
    return m, m.init(jax.random.key(seed), jnp.zeros((1, n), jnp.int8))


def _chain_symmetries(n):
    from lindblad_nqs.model.lattice import Lattice

    return tuple(tuple(int(i) for i in g) for g in Lattice((n,), True).symmetry_permutations)


VARIANTS = {  # name: (sites, keyword arguments of POVMRNN)
    "gru": (3, {"cell": "gru"}), "lstm": (3, {"cell": "lstm"}), "elu": (3, {"cell": "elu"}),
    "gru_snake_2x2": (4, {"cell": "gru", "depth": 1, "order": (0, 1, 3, 2)}),
    "lstm_sym": (3, {"cell": "lstm", "symmetries": _chain_symmetries(3)}),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_probabilities_sum_to_one(name):
    n, kw = VARIANTS[name]
    m, params = _rnn(n, **kw)
    p = np.exp(np.asarray(m.apply(params, jnp.asarray(all_strings(n)))))
    assert abs(p.sum() - 1) < 1e-12
    assert p.min() > 0 and p.max() < 0.5  # not degenerate: the test has something to check


@pytest.mark.parametrize("name", ["gru", "lstm", "elu", "gru_snake_2x2", "lstm_sym"])
def test_sampled_frequencies_match_exact_probabilities(name):
    n, kw = VARIANTS[name]
    B = 200_000 if n == 3 else 400_000
    cell = kw["cell"]
    kw = {k: v for k, v in kw.items() if k != "cell"}
    m, params = _rnn(n, cell, noise=1.0, **kw)
    p = np.exp(np.asarray(m.apply(params, jnp.asarray(all_strings(n)))))
    s, lp = m.apply(params, jax.random.key(5), B, method=POVMRNN.sample)
    s = np.asarray(s, np.int64)
    np.testing.assert_allclose(np.asarray(lp), np.log(p[string_index(s)]), atol=1e-12)
    counts = np.bincount(string_index(s), minlength=4**n)
    chi2 = np.sum((counts - B * p) ** 2 / (B * p))
    dof = 4**n - 1
    assert chi2 < dof + 5 * np.sqrt(2 * dof), chi2  # ~5 sigma of the chi-square distribution
    # the same counts against another network's probabilities fail the bound: the test has power
    mw, pw = _rnn(n, cell, noise=1.0, seed=1, **kw)
    wrong = np.exp(np.asarray(mw.apply(pw, jnp.asarray(all_strings(n)))))
    chi2w = np.sum((counts - B * wrong) ** 2 / (B * wrong))
    assert chi2w > dof + 5 * np.sqrt(2 * dof)


def test_symmetrised_sampler_needs_the_random_group_element():
    n, B = 3, 200_000
    sym = _chain_symmetries(n)
    m, params = _rnn(n, "gru", noise=1.0, symmetries=sym)
    plain = POVMRNN(n, hidden=6, depth=2, cell="gru", init_noise=1.0)  # same parameters, no average
    p_sym = np.exp(np.asarray(m.apply(params, jnp.asarray(all_strings(n)))))
    s, _ = plain.apply(params, jax.random.key(5), B, method=POVMRNN.sample)
    counts = np.bincount(string_index(np.asarray(s, np.int64)), minlength=4**n)
    dof = 4**n - 1
    assert np.sum((counts - B * p_sym) ** 2 / (B * p_sym)) > dof + 5 * np.sqrt(2 * dof)


def test_symmetrised_log_p_and_gradient_against_enumeration_and_finite_differences():
    from jax.flatten_util import ravel_pytree

    n = 4
    sym = _chain_symmetries(n)
    assert len(sym) == 8  # 4 translations x reflection
    m, params = _rnn(n, "gru", noise=1.0, symmetries=sym)
    plain = POVMRNN(n, hidden=6, depth=2, cell="gru", init_noise=1.0)
    a = jnp.asarray(all_strings(n))
    p_plain = np.exp(np.asarray(plain.apply(params, a)))
    idx = string_index(np.asarray(a))
    enum = np.mean([p_plain[string_index(np.asarray(a)[:, list(g)])] for g in sym], axis=0)
    np.testing.assert_allclose(np.exp(np.asarray(m.apply(params, a))), enum, rtol=1e-12)
    assert np.max(np.abs(p_plain / enum - 1)) > 0.05  # the average changes p: the test can fail
    # gradient of log p_sym at a few strings along a random direction, against central differences
    theta, unravel = ravel_pytree(params)
    v = jax.random.normal(jax.random.key(3), theta.shape)
    x = a[idx % 37 == 0]
    f = lambda th: m.apply(unravel(th), x)  # noqa: E731
    jvp = jax.jvp(f, (theta,), (v,))[1]
    h = 1e-5
    fd = (f(theta + h * v) - f(theta - h * v)) / (2 * h)
    np.testing.assert_allclose(np.asarray(jvp), np.asarray(fd), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("cell", ["gru", "lstm", "elu"])
def test_product_start_is_exact_with_a_nondegenerate_metric(cell):
    """p is the product state exactly at init_noise 0, yet log p moves along the first input kernel at
    first order (the Jacobian's column block is not zero), so S has the directions of the first step."""
    from jax.flatten_util import ravel_pytree

    n = 3
    q = get_povm("tetrahedral").product_probabilities("y-")
    m, params = _rnn(n, cell, noise=0.0, product=tuple(q), symmetries=_chain_symmetries(n))
    a = jnp.asarray(all_strings(n))
    p = np.exp(np.asarray(m.apply(params, a)))
    np.testing.assert_allclose(p, np.prod(q[np.asarray(a)], axis=1), atol=1e-14)
    theta, unravel = ravel_pytree(params)
    J = jax.jacrev(lambda th: m.apply(unravel(th), a))(theta)  # (4^n, P)
    marker = ravel_pytree(jax.tree_util.tree_map_with_path(
        lambda path, x: jnp.full_like(x, float("W0" in jax.tree_util.keystr(path))), params))[0]
    w0 = np.asarray(marker) > 0
    assert np.abs(np.asarray(J)[:, w0]).max() > 1e-2


@pytest.mark.parametrize("label", ["y-", "x+", "z+"])
def test_product_state_initialisation_is_exact(label):
    n = 3
    povm = get_povm("tetrahedral")
    q = povm.product_probabilities(label)
    m, params = _rnn(n, "gru", noise=0.0, product=tuple(q))
    p = np.exp(np.asarray(m.apply(params, jnp.asarray(all_strings(n)))))
    from lindblad_nqs.model import PRODUCT_STATES

    ket = PRODUCT_STATES[label]
    for _ in range(n - 1):
        ket = np.kron(ket, PRODUCT_STATES[label])
    exact = povm.probabilities(np.outer(ket, ket.conj()))
    np.testing.assert_allclose(p, exact, atol=1e-12)
    # and close to it with a small noise
    m, params = _rnn(n, "gru", noise=1e-3, product=tuple(q))
    p = np.exp(np.asarray(m.apply(params, jnp.asarray(all_strings(n)))))
    assert np.max(np.abs(p - exact)) < 1e-2


def test_jax_local_values_equal_numpy_lindbladian():
    lind = POVMLindbladian(parse_system(SYSTEM))
    app = POVMApplier(lind)
    m, params = _rnn(3, "gru", noise=1.0)
    log_p = lambda x: m.apply(params, jnp.asarray(x))  # noqa: E731
    rng = np.random.default_rng(1)
    a = rng.integers(0, 4, size=(40, 3))
    E = np.asarray(app.local_values(log_p, jnp.asarray(a)))
    p_of = lambda b: np.exp(np.asarray(log_p(b)))  # noqa: E731
    ref = lind.apply(p_of, a) / p_of(a)
    np.testing.assert_allclose(E, ref, rtol=1e-10, atol=1e-12)
    # and the dense generator agrees with the connected strings
    Ld = lind.dense()
    pall = p_of(all_strings(3))
    np.testing.assert_allclose(E, (Ld @ pall)[string_index(a)] / pall[string_index(a)], rtol=1e-10, atol=1e-12)


def test_tdvp_with_full_rank_ansatz_reproduces_exact_povm_dynamics():
    from scipy.linalg import expm

    n = 2
    system = parse_system(dict(SYSTEM, lattice={"shape": [2], "boundary": "open"}))
    lind = POVMLindbladian(system)
    q = get_povm("tetrahedral").product_probabilities("y-")
    p0 = np.kron(q, q)
    module = LogProbTable(n)
    params = {"params": {"logits": jnp.asarray(np.log(p0))}}
    strings = jnp.asarray(all_strings(n))
    state = FlatState.from_module(module, params, strings[:1])
    rhs = make_rhs(state, POVMApplier(lind), tdvp.TDVPOptions("pinv", 0.0, 1e-10, 2.0))
    residuals = []

    def f(theta, t):
        w = jnp.exp(state.log_value(theta, strings))
        th_dot, A, d = rhs(theta, strings, w)
        residuals.append(float(d["residual"]))
        return th_dot, (lambda v: jnp.linalg.norm(A @ v)), d

    saves = np.linspace(0, 1.0, 5)
    Ld = lind.dense()

    def max_error(dt):
        out = {}
        evolve(f, state.theta0, 0.0, saves, dt, integrator="rk4",
               on_save=lambda t, th, _: out.__setitem__(round(t, 9), np.exp(np.asarray(state.log_value(th, strings)))))
        return max(np.max(np.abs(out[round(t, 9)] - expm(Ld * t) @ p0)) for t in saves[1:])

    e1, e2 = max_error(0.02), max_error(0.01)
    assert e2 < 1e-7
    assert 10 < e1 / e2 < 22  # fourth order: the error is the integrator's, not the TDVP's
    assert max(residuals) < 1e-12


def test_fused_stage_equals_rhs_on_its_samples():
    from lindblad_nqs.povm_tdvp import make_stage

    lind = POVMLindbladian(parse_system(SYSTEM))
    app = POVMApplier(lind)
    m, params = _rnn(3, "lstm", noise=1.0)
    state = FlatState.from_module(m, params, jnp.zeros((1, 3), jnp.int8))
    opts = tdvp.TDVPOptions("snr", 0.0, 1e-6, 2.0)
    key = jax.random.key(4)
    x_stage, _, d_stage, finite = make_stage(m, state, app, opts, 300)(state.theta0, key)
    a, _ = m.apply(params, key, 300, method=POVMRNN.sample)
    x_rhs, _, d_rhs = make_rhs(state, app, opts)(state.theta0, a)
    assert bool(finite)
    np.testing.assert_allclose(np.asarray(x_stage), np.asarray(x_rhs), rtol=1e-8, atol=1e-10)
    assert 0 < float(d_stage["residual"]) < 1 and abs(float(d_stage["residual"]) - float(d_rhs["residual"])) < 1e-10


def test_snr_solve_at_an_exact_product_state_is_finite():
    """At the exact product start part of the Jacobian is exactly zero (the output kernel meets h = 0):
    the signal-to-noise cut-off meets 0/0 there, which must drop those modes, not give NaN."""
    from lindblad_nqs.povm_tdvp import make_stage

    app = POVMApplier(POVMLindbladian(parse_system(SYSTEM)))
    q = get_povm("tetrahedral").product_probabilities("y-")
    m, params = _rnn(3, "gru", noise=0.0, product=tuple(q), depth=1)
    state = FlatState.from_module(m, params, jnp.zeros((1, 3), jnp.int8))
    J = state.jacobian(state.theta0, jnp.asarray(all_strings(3)))
    assert int(np.sum(np.all(np.asarray(J) == 0, axis=0))) > 0  # the 0/0 case is really met
    x, _, d, finite = make_stage(m, state, app, tdvp.TDVPOptions("snr", 0.0, 1e-6, 2.0), 500)(state.theta0,
                                                                                             jax.random.key(0))
    assert bool(finite) and float(jnp.linalg.norm(x)) > 0 and float(d["residual"]) < 1



SPEC = {
    "system": SYSTEM,
    "task": {"kind": "dynamics", "t_final": 0.04, "dt": 0.01, "save_every": 0.02, "initial": {"product": "y-"}},
    "method": {"name": "rnn_tdvp", "hidden": 4, "n_samples": 200, "obs_samples": 500, "integrator": "rk4"},
    "observables": ["sx", "sy", "sz"],
    "seed": 3,
}


def test_resumed_evolution_equals_uninterrupted(tmp_path):
    full, hfull = solve_cli(tmp_path, SPEC, "full")
    sy0 = full[(full.t == 0) & (full.observable == "sy")]
    assert abs(sy0.value.iloc[0] + 1) < 4 * sy0.stderr.iloc[0] + 1e-2  # from y-
    for c in ("t", "dt", "residual", "condition", "cut"):
        assert c in hfull.columns
    assert_resume_equals_uninterrupted(tmp_path, SPEC, full, hfull, t_stop=0.02)
