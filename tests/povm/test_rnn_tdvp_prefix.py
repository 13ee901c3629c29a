"""rnn_tdvp: connected strings evaluated from their sample's prefix (POVMRNN.log_p_connected) give the
same log p as the whole network on each string, for every cell, depth, boundary, symmetry group and the
square lattices' snake path; and the same local values and TDVP update."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from lindblad_nqs.methods import get_method  # noqa: E402
from lindblad_nqs.povm.lindbladian import POVMLindbladian  # noqa: E402
from lindblad_nqs.povm_tdvp import POVMApplier, make_rhs, make_stage  # noqa: E402
from lindblad_nqs.solvers.rnn_tdvp import build_state  # noqa: E402
from lindblad_nqs.spec import parse_system  # noqa: E402
from lindblad_nqs.variational import tdvp  # noqa: E402

CASES = {  # name: (lattice shape, boundary, cell, depth, symmetry)
    "gru_ring5_translations": ((5,), "periodic", "gru", 1, "translations"),
    "lstm2_ring5_translations": ((5,), "periodic", "lstm", 2, "translations"),
    "elu2_open5_plain": ((5,), "open", "elu", 2, "none"),
    "gru2_ring4_plain": ((4,), "periodic", "gru", 2, "none"),
    "lstm_open4_reflection": ((4,), "open", "lstm", 1, "all"),
    "gru2_square2x2_translations": ((2, 2), "periodic", "gru", 2, "translations"),
    "elu_square3x3_translations": ((3, 3), "periodic", "elu", 1, "translations"),
}


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _setup(shape, boundary, cell, depth, symmetry, seed=0):
    system = parse_system({"lattice": {"shape": list(shape), "boundary": boundary},
                           "preset": {"name": "heisenberg", "Jx": 0.9, "Jy": 1.8, "Jz": 1.0, "B": 0.7,
                                      "gamma": 1.0}})
    p = {k: v.default for k, v in get_method("rnn_tdvp").keys.items()}
    p.update(cell=cell, depth=depth, hidden=5, symmetry=symmetry)
    module, _, state = build_state(system.lattice, p, "y-", seed)
    # random parameters everywhere: at the product start the hidden states are zero and the test is empty
    theta = state.theta0 + 0.7 * jax.random.normal(jax.random.key(seed + 1), state.theta0.shape)
    return system, module, state, theta, POVMApplier(POVMLindbladian(system))


@pytest.mark.parametrize("name", list(CASES))
def test_connected_log_p_from_prefix_equals_full_evaluation(name):
    system, module, state, theta, app = _setup(*CASES[name])
    n = system.n_sites
    assert (module.symmetries is not None) == (CASES[name][4] != "none")
    params = state.unravel(theta)

    @jax.jit
    def both(key):
        a, _ = module.apply(params, key, 5, method="sample")
        _, y, _ = app.connected(a)
        full = module.apply(params, y.reshape(-1, n)).reshape(y.shape[:2])
        return full, module.apply(params, a, y, app.changed_sites, method="log_p_connected")

    full, prefix = both(jax.random.key(2))
    assert float(jnp.std(full)) > 0.3  # random parameters: the strings' probabilities differ widely
    np.testing.assert_allclose(np.asarray(prefix), np.asarray(full), rtol=0, atol=1e-12)


def test_local_values_from_prefix_equal_the_numpy_lindbladian():
    system, module, state, theta, app = _setup((4,), "periodic", "gru", 2, "translations")
    params = state.unravel(theta)
    log_p = lambda x: module.apply(params, x)  # noqa: E731
    conn = lambda x, y: module.apply(params, x, y, app.changed_sites, method="log_p_connected")  # noqa: E731
    a = np.random.default_rng(3).integers(0, 4, size=(5, system.n_sites))
    app.chunk = 2 * app.n_offdiag  # blocks of two samples: the padded last block is met
    e = jax.jit(lambda a: app.local_values(log_p, a, log_f_connected=conn))(jnp.asarray(a))
    # p from the whole network on every connected string of the NumPy table
    p_of = lambda b: np.exp(np.asarray(jax.jit(log_p)(jnp.asarray(b))))  # noqa: E731
    np.testing.assert_allclose(np.asarray(e), app.lind.apply(p_of, a) / p_of(a), rtol=1e-10, atol=1e-11)


def test_first_changed_position_is_where_the_path_reads_a_changed_site():
    _, module, _, _, app = _setup((3, 3), "periodic", "gru", 1, "translations")
    paths = module._paths()
    assert paths.shape == (9, 9) and sorted(paths[0]) == list(range(9))
    first = module.first_changed(app.changed_sites)
    for g in range(9):
        for j, sites in enumerate(app.changed_sites):
            reads = [i for i in range(9) if paths[g, i] in sites]
            assert first[g, j] == reads[0]
    # on average the tail is shorter than the path: that is the saving
    assert np.mean(8 - first) < 0.75 * 9


def test_stage_with_prefix_equals_stage_without():
    system, module, state, theta, app = _setup((5,), "periodic", "gru", 1, "translations")
    opts = tdvp.TDVPOptions("snr", 0.0, 1e-6, 2.0)
    key = jax.random.key(7)
    x_new, _, d_new, _ = make_stage(module, state, app, opts, 200, prefix=True)(theta, key)
    x_old, _, d_old, _ = make_stage(module, state, app, opts, 200, prefix=False)(theta, key)
    np.testing.assert_allclose(np.asarray(x_new), np.asarray(x_old), rtol=1e-8, atol=1e-10)
    assert abs(float(d_new["residual"]) - float(d_old["residual"])) < 1e-10
    a, _ = module.apply(state.unravel(theta), key, 200, method="sample")
    x_rhs = make_rhs(state, app, opts, module)(theta, a)[0]
    np.testing.assert_allclose(np.asarray(x_rhs), np.asarray(x_old), rtol=1e-8, atol=1e-10)
