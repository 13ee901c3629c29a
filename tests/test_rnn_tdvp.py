"""rnn_tdvp (reh2021): the RNN's normalisation and sampler, the JAX POVM applier, the exact TDVP limit."""

import numpy as np
import pandas as pd
import pytest
import yaml

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

SYSTEM = {"lattice": {"shape": [3], "boundary": "periodic"},
          "preset": {"name": "heisenberg", "Jx": 2.0, "Jy": 0.0, "Jz": 1.0, "B": 1.0, "gamma": 1.0}}


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _rnn(n, cell, noise=0.5, depth=2, product=None, seed=0):
    m = POVMRNN(n, hidden=6, depth=depth, cell=cell, init_noise=noise, product=product)
    return m, m.init(jax.random.key(seed), jnp.zeros((1, n), jnp.int8))


@pytest.mark.parametrize("cell", ["gru", "elu"])
def test_probabilities_sum_to_one(cell):
    m, params = _rnn(3, cell)
    p = np.exp(np.asarray(m.apply(params, jnp.asarray(all_strings(3)))))
    assert abs(p.sum() - 1) < 1e-12
    assert p.min() > 0 and p.max() < 0.5  # not degenerate: the test has something to check


@pytest.mark.parametrize("cell", ["gru", "elu"])
def test_sampled_frequencies_match_exact_probabilities(cell):
    n, B = 3, 200_000
    m, params = _rnn(n, cell, noise=1.0)
    p = np.exp(np.asarray(m.apply(params, jnp.asarray(all_strings(n)))))
    s, lp = m.apply(params, jax.random.key(5), B, method=POVMRNN.sample)
    s = np.asarray(s, np.int64)
    np.testing.assert_allclose(np.asarray(lp), np.log(p[string_index(s)]), atol=1e-12)
    counts = np.bincount(string_index(s), minlength=4**n)
    chi2 = np.sum((counts - B * p) ** 2 / (B * p))
    dof = 4**n - 1
    assert chi2 < dof + 5 * np.sqrt(2 * dof), chi2  # ~5 sigma of the chi-square distribution
    # a wrong sampler (the conditionals of the first site only) fails the same bound
    wrong = np.exp(np.asarray(_rnn(n, cell, noise=1.0, seed=1)[0].apply(_rnn(n, cell, noise=1.0, seed=1)[1],
                                                                      jnp.asarray(all_strings(n)))))
    chi2w = np.sum((counts - B * wrong) ** 2 / (B * wrong))
    assert chi2w > dof + 5 * np.sqrt(2 * dof)


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
    # and close to it with the default small noise
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


SPEC = {
    "system": SYSTEM,
    "task": {"kind": "dynamics", "t_final": 0.04, "dt": 0.01, "save_every": 0.02, "initial": {"product": "y-"}},
    "method": {"name": "rnn_tdvp", "hidden": 4, "n_samples": 200, "obs_samples": 500, "integrator": "rk4"},
    "observables": ["sx", "sy", "sz"],
    "seed": 3,
}


def _solve(tmp_path, spec, name, state=None):
    from lindblad_nqs.cli import main

    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(spec))
    out = tmp_path / name / "result.csv"
    args = ["solve", str(p), "--out", str(out)] + (["--state-dir", str(state)] if state else [])
    assert main(args) == 0
    return pd.read_csv(out), pd.read_csv(out.with_suffix(".history.csv"))


def test_resumed_evolution_equals_uninterrupted(tmp_path):
    full, hfull = _solve(tmp_path, SPEC, "full")
    sy0 = full[(full.t == 0) & (full.observable == "sy")]
    assert abs(sy0.value.iloc[0] + 1) < 4 * sy0.stderr.iloc[0] + 1e-2  # from y-
    for c in ("t", "dt", "residual", "condition", "cut"):
        assert c in hfull.columns
    short = dict(SPEC, task=dict(SPEC["task"], t_final=0.02))
    _solve(tmp_path, short, "part", state=tmp_path / "state")
    resumed, hres = _solve(tmp_path, SPEC, "resumed", state=tmp_path / "state")
    pd.testing.assert_frame_equal(full, resumed)
    cols = [c for c in hfull.columns if c != "time_s"]
    pd.testing.assert_frame_equal(hfull[cols], hres[cols])
