"""rbm_tdvp (hartmann2019): the ansatz's guarantees, its derivatives, the sector rule and resuming."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from lindblad_nqs.cli import main  # noqa: E402
from lindblad_nqs.model import PRODUCT_STATES  # noqa: E402
from lindblad_nqs.nets.rbm_dm import RBMDensityMatrix, n_complex_parameters  # noqa: E402
from lindblad_nqs.spec import parse_system  # noqa: E402
from lindblad_nqs.variational.state import FlatState  # noqa: E402
from lindblad_nqs.vmc.configs import all_doubled  # noqa: E402
from lindblad_nqs.vmc.evolution import sector_for_dynamics  # noqa: E402
from conftest import assert_resume_equals_uninterrupted, solve_cli  # noqa: E402  (tests/conftest.py, shared helpers)


def _rho(module, params, n):
    lv = np.asarray(module.apply(params, jnp.asarray(all_doubled(n))))
    rho = np.exp(lv - lv.real.max()).reshape(2**n, 2**n)
    return rho / np.trace(rho)


def test_parameter_count_of_the_paper():
    m = RBMDensityMatrix(16, 12, 12)
    p = m.init(jax.random.key(0), jnp.zeros((1, 2, 16), jnp.int8))
    state = FlatState.from_module(m, p)
    assert state.n_params == 2 * 424 == 2 * n_complex_parameters(16, 12, 12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hermitian_and_positive_for_random_parameters(seed):
    with jax.enable_x64(True):
        m = RBMDensityMatrix(3, 3, 2, init_noise=0.7, bias_std=0.7, dtype=jnp.float64)
        p = m.init(jax.random.key(seed), jnp.zeros((1, 2, 3), jnp.int8))
        rho = _rho(m, p, 3)
        assert np.abs(rho - rho.conj().T).max() < 1e-12
        ev = np.linalg.eigvalsh(0.5 * (rho + rho.conj().T))
        assert ev.min() > -1e-12 and ev.max() < 1 and np.sort(ev)[-2] > 1e-6  # mixed, and positive


@pytest.mark.parametrize("label", ["x+", "x-", "y+", "y-", "z+", "z-"])
def test_product_state_initialisation_is_exact(label):
    with jax.enable_x64(True):
        m = RBMDensityMatrix(3, 2, 2, initial=label, init_noise=0.0, dtype=jnp.float64)
        p = m.init(jax.random.key(0), jnp.zeros((1, 2, 3), jnp.int8))
        psi = PRODUCT_STATES[label]
        ps = np.kron(np.kron(psi, psi), psi)
        tol = 1e-4 if label[0] == "z" else 1e-12  # z: exp(-2 z_bias) in amplitude
        assert np.abs(_rho(m, p, 3) - np.outer(ps, ps.conj())).max() < tol


def test_log_derivatives_against_finite_differences():
    with jax.enable_x64(True):
        m = RBMDensityMatrix(3, 2, 2, init_noise=0.3, dtype=jnp.float64)
        x = jnp.asarray(all_doubled(3)[::7])
        st = FlatState.from_module(m, m.init(jax.random.key(3), x[:1]), x[:1])
        O = np.asarray(st.jacobian(st.theta0, x))
        rng = np.random.default_rng(0)
        for k in rng.choice(st.n_params, 6, replace=False):
            e = np.zeros(st.n_params)
            e[k] = 1e-6
            fd = (np.asarray(st.log_value(st.theta0 + e, x)) - np.asarray(st.log_value(st.theta0 - e, x))) / 2e-6
            np.testing.assert_allclose(O[:, k], fd, atol=1e-7)


def _random_state(n, seed, analytic):
    from lindblad_nqs.nets import rbm_dm

    m = RBMDensityMatrix(n, 3, 2, init_noise=0.6, bias_std=0.8, dtype=jnp.float64)
    x0 = jnp.zeros((1, 2, n), jnp.int8)
    return m, FlatState.from_module(m, m.init(jax.random.key(seed), x0), x0,
                                    log_derivatives=rbm_dm.log_derivatives if analytic else None)


@pytest.mark.parametrize("n", [2, 3])
def test_closed_form_log_derivatives_equal_autodiff(n):
    """O_k of nets.rbm_dm.log_derivatives, flattened by FlatState, against the reverse-mode Jacobian of
    log rho (which the finite-difference test above checks) on every doubled configuration."""
    with jax.enable_x64(True):
        x = jnp.asarray(all_doubled(n))
        for seed in range(3):
            _, auto = _random_state(n, seed, analytic=False)
            _, closed = _random_state(n, seed, analytic=True)
            J0, J1 = np.asarray(auto.jacobian(auto.theta0, x)), np.asarray(closed.jacobian(closed.theta0, x))
            assert J1.shape == J0.shape == (4**n, auto.n_params)
            np.testing.assert_allclose(J1, J0, rtol=0, atol=1e-12 * np.abs(J0).max())


@pytest.mark.parametrize("noise", [0.6, 8.0])
def test_log_abs_rho_is_the_real_part_of_log_rho(noise):
    """The samplers' Re log rho in real arithmetic against the complex log rho, also at activations with
    |Re theta| of tens (where a naive log |cosh| loses its digits or overflows)."""
    from lindblad_nqs.nets import rbm_dm

    with jax.enable_x64(True):
        m = RBMDensityMatrix(3, 3, 2, init_noise=noise, bias_std=noise, dtype=jnp.float64)
        x = jnp.asarray(all_doubled(3))
        p = m.init(jax.random.key(5), x[:1])
        want = np.asarray(m.apply(p, x)).real
        got = np.asarray(rbm_dm.log_abs_rho(p, x))
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


PRESETS_1_2 = {  # every preset, each with 1- and 2-site terms (off-diagonal on 2 sites: heisenberg, rotated_ising)
    "heisenberg": {"name": "heisenberg", "Jx": 2.0, "Jy": 0.7, "Jz": 1.0, "B": 1.0},
    "tfi": {"name": "tfi", "V": 2.0, "g": 1.0},
    "rotated_ising": {"name": "rotated_ising", "V": -2.0, "g": 1.0},
    "confinement": {"name": "confinement"},
}


@pytest.mark.parametrize("preset", sorted(PRESETS_1_2))
@pytest.mark.parametrize("shape,boundary", [([2], "open"), ([3], "periodic"), ([4], "periodic")])
def test_connected_values_from_the_changed_sites_equal_the_full_evaluation(preset, shape, boundary):
    """L_loc from the sample's activations and the changed sites (nets.rbm_dm.log_rho_ratio_connected) equals
    the generic path that evaluates the whole RBM on every connected configuration, on every doubled
    configuration, for random parameters."""
    from lindblad_nqs.nets import rbm_dm
    from lindblad_nqs.vmc.local_estimator import LocalLiouvillian, from_digits, to_digits

    n = shape[0]
    system = parse_system({"lattice": {"shape": shape, "boundary": boundary}, "preset": PRESETS_1_2[preset]})
    with jax.enable_x64(True):
        lind = LocalLiouvillian(system, dtype=np.complex128)
        assert {len(s) for s in lind.op.changed_sites} == ({1, 2} if preset in ("heisenberg", "rotated_ising") else {1})
        x = jnp.asarray(all_doubled(n))
        d = to_digits(x)
        for seed in range(2):
            m, st = _random_state(n, seed, analytic=True)
            params = st.unravel(st.theta0)
            log_f = lambda dd: m.apply(params, from_digits(dd))  # noqa: E731
            _, y, mel = lind.op.connected(d)
            full = np.asarray(log_f(y.reshape(-1, n)).reshape(y.shape[:2]) - log_f(d)[:, None])
            fast = np.asarray(rbm_dm.log_rho_ratio_connected(params, d, y, lind.op.changed_sites))
            np.testing.assert_allclose(np.exp(fast), np.exp(full), rtol=1e-11)
            E0 = np.asarray(lind.local_values(lambda xx: m.apply(params, xx), x))
            E1 = np.asarray(lind.op.local_values(log_f, d, jnp.zeros(len(d), complex),
                                                 log_f_connected=lambda a, b: rbm_dm.log_rho_ratio_connected(
                                                     params, a, b, lind.op.changed_sites)))
            np.testing.assert_allclose(E1, E0, rtol=0, atol=1e-12 * np.abs(E0).max())


def _old_product_form(variables, x, y, changed_sites):
    """The connected ratio as it was: prod_h (p e^d + q e^-d) with p, q = (1 +- tanh theta) / 2, one log."""
    from lindblad_nqs.nets import rbm_dm

    xd = jnp.stack([x >> 1, x & 1], axis=1)
    a, b, W, c, U = rbm_dm.unpack(variables)
    th = rbm_dm._hidden(variables, *rbm_dm._spins(xd))
    ew, eu = jnp.exp(2 * W), jnp.exp(2 * U)
    sets = [(ew, None), (None, jnp.conj(ew)), (eu, jnp.conj(eu))]
    out = []
    for j, sites in enumerate(changed_sites):
        sites = np.asarray(sites)
        sl = (x[:, sites] >> 1) - (y[:, j, sites] >> 1)
        sr = (x[:, sites] & 1) - (y[:, j, sites] & 1)
        logr = 2 * jnp.sum(sl * a[sites] + sr * jnp.conj(a)[sites], -1)
        ratio = 1.0
        for t, (ek, eb) in zip(th, sets):
            up = dn = 1.0
            for s, e in ((sl, ek), (sr, eb)):
                if e is not None:
                    for mm, site in enumerate(sites):
                        f = jnp.where(s[:, mm, None] > 0, e[None, :, site], jnp.where(s[:, mm, None] < 0, 1 / e[None, :, site], 1.0))
                        up, dn = up * f, dn / f
            ratio = ratio * jnp.prod((1 + jnp.tanh(t)) / 2 * up + (1 - jnp.tanh(t)) / 2 * dn, -1)
        out.append(logr + jnp.log(ratio))
    return jnp.stack(out, 1)


@pytest.mark.parametrize("bias,weight,hidden,old_fails", [(20.0, 15.0, 1, True), (300.0, 2.0, 4, False),
                                                          (300.0, 120.0, 4, True), (60.0, 60.0, 1, True)])
def test_connected_ratio_at_large_activations(bias, weight, hidden, old_fails):
    """Activations |theta| of 20 to 400: the connected log ratio equals log rho(y) - log rho(x) of the direct
    evaluation (a stable log cosh per unit), on the fast product form (the weights' bound below
    PRODUCT_LIMIT: p and q without cancellation, also where flips of weight 15 turn activations of 20
    around) and on the log cosh form the bound selects above it (weights 60-120). The old product form
    loses the e^-d term there (1 - tanh theta cancels to 0) or overflows to inf/nan."""
    from lindblad_nqs.nets import rbm_dm
    from lindblad_nqs.vmc.local_estimator import LocalLiouvillian, from_digits, to_digits

    n = 4
    system = parse_system({"lattice": {"shape": [n], "boundary": "periodic"}, "preset": PRESETS_1_2["heisenberg"]})
    with jax.enable_x64(True):
        lind = LocalLiouvillian(system, dtype=np.complex128)
        m = RBMDensityMatrix(n, hidden, hidden, dtype=jnp.float64)
        p = m.init(jax.random.key(1), jnp.zeros((1, 2, n), jnp.int8))
        rng = np.random.default_rng(2)
        p = jax.tree_util.tree_map(lambda v: jnp.asarray(rng.normal(size=v.shape) * weight), p)
        # biases of both signs and sizes around `bias`, so that flips also turn activations' signs
        for k in ("b", "c"):
            v = np.asarray(p["params"][k])
            p["params"][k] = jnp.asarray(bias * rng.choice([-1, 1], size=v.shape) * rng.uniform(0.5, 1.3, size=v.shape))
        d = to_digits(jnp.asarray(all_doubled(n)))
        _, y, mel = lind.op.connected(d)
        log_f = lambda dd: m.apply(p, from_digits(dd))  # noqa: E731
        direct = np.asarray(log_f(y.reshape(-1, n)).reshape(y.shape[:2]) - log_f(d)[:, None])
        th = np.concatenate([np.asarray(t) for t in rbm_dm._hidden(p, *rbm_dm._spins(from_digits(d)))], 1)
        assert np.abs(th.real).max() > bias
        got = np.asarray(rbm_dm.log_rho_ratio_connected(p, d, y, lind.op.changed_sites))
        real = np.asarray(mel != 0)  # padding columns repeat x
        scale = 1e-12 * max(1.0, np.abs(direct.real).max())
        np.testing.assert_allclose(got.real[real], direct.real[real], rtol=0, atol=scale)
        phase = np.angle(np.exp(1j * (got.imag - direct.imag)))[real]
        assert np.abs(phase).max() < 1e-9
        old = np.asarray(_old_product_form(p, d, y, lind.op.changed_sites))
        bad = ~np.isfinite(old[real]) | (np.abs(old.real - direct.real)[real] > 1e-6 * np.abs(direct.real).max())
        assert bad.any() == old_fails  # what the fix is for


def test_sector_follows_the_initial_state():
    conserving = parse_system({"lattice": {"shape": [4], "boundary": "periodic"},
                               "preset": {"name": "heisenberg", "Jx": 2.0, "Jy": 0.0, "Jz": 1.0, "B": 1.0}})
    assert sector_for_dynamics(conserving, "z+") and sector_for_dynamics(conserving, "z-")
    for label in ("x+", "x-", "y+", "y-"):  # weight in every sector: restricting would be wrong
        assert not sector_for_dynamics(conserving, label)



SPEC = {
    "system": {"lattice": {"shape": [3], "boundary": "periodic"},
               "preset": {"name": "heisenberg", "Jx": 2.0, "Jy": 0.0, "Jz": 1.0, "B": 1.0}},
    "task": {"kind": "dynamics", "t_final": 0.06, "dt": 0.01, "save_every": 0.03, "initial": {"product": "x+"}},
    "method": {"name": "rbm_tdvp", "hidden": 2, "mixing": 2, "n_samples": 300, "n_chains": 20, "obs_samples": 600,
               "obs_chains": 20, "track_every": 2, "track_samples": 100, "n_discard": 20},
    "observables": ["sx", "sy", "sz"],
    "seed": 3,
}


def test_resumed_evolution_equals_uninterrupted(tmp_path):
    full, hfull = solve_cli(tmp_path, SPEC, "full")
    # the x+ start is outside the parity sector although L conserves parity: sx(0) must be 1, not 0
    assert abs(full[(full.t == 0) & (full.observable == "sx")].value.iloc[0] - 1) < 0.02
    # a run stopped at its first save time, then continued with the same state dir
    assert_resume_equals_uninterrupted(tmp_path, SPEC, full, hfull, t_stop=0.03)


def test_chunked_assembly_gives_the_same_evolution(tmp_path):
    """The paper's sample counts need S and F accumulated chunk by chunk: on the same samples (same seed)
    the evolution equals the one from the whole Jacobian at once, to roundoff."""
    whole, hw = solve_cli(tmp_path, dict(SPEC, method=dict(SPEC["method"], chunk=0)), "whole")
    chunked, hc = solve_cli(tmp_path, dict(SPEC, method=dict(SPEC["method"], chunk=60)), "chunked")
    np.testing.assert_allclose(chunked.value, whole.value, atol=1e-8)
    np.testing.assert_allclose(hc.residual.dropna(), hw.residual.dropna(), rtol=1e-6, atol=1e-10)


def test_analytic_path_gives_the_same_evolution(tmp_path):
    """The closed-form O_k and connected values (the default) against the generic autodiff path on the same
    samples (same seed): the same evolution to roundoff."""
    fast, hf = solve_cli(tmp_path, SPEC, "analytic")
    generic, hg = solve_cli(tmp_path, dict(SPEC, method=dict(SPEC["method"], analytic=False)), "generic")
    np.testing.assert_allclose(fast.value, generic.value, atol=1e-8)
    np.testing.assert_allclose(hf.residual.dropna(), hg.residual.dropna(), rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("chunk,integrator", [(0, "rk4"), (60, "rk4"), (0, "heun")])
def test_stages_without_the_spectrum_give_the_same_evolution(tmp_path, monkeypatch, chunk, integrator):
    """Stages 2-4 of RK4 (and Heun's second) skip the spectrum of S that only the first stage's diagnostics
    use: rows and history identical to the bit with a run where every stage computes it (the code before)."""
    from lindblad_nqs.variational import tdvp

    spec = dict(SPEC, method=dict(SPEC["method"], chunk=chunk, integrator=integrator))
    new, hn = solve_cli(tmp_path, spec, "skipped")
    monkeypatch.setattr(tdvp, "skips_work", lambda opts: False)  # every stage reports, as before
    old, ho = solve_cli(tmp_path, spec, "every_stage")
    pd = pytest.importorskip("pandas")
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    cols = [c for c in hn.columns if c != "time_s"]
    assert set(cols) >= {"residual", "condition", "cut", "kept", "delta_L"}
    pd.testing.assert_frame_equal(hn[cols], ho[cols], check_exact=True)


def test_chunk_must_divide_the_samples(tmp_path):
    from lindblad_nqs.spec import SpecError, parse_spec

    with pytest.raises(SpecError, match="multiple of method.chunk"):
        parse_spec(dict(SPEC, method=dict(SPEC["method"], chunk=70)))
    with pytest.raises(SpecError, match="snr needs every sample"):
        parse_spec(dict(SPEC, method=dict(SPEC["method"], chunk=60, regularization="snr")))


def test_changed_observation_settings_do_not_reuse_the_checkpoint(tmp_path):
    """Rows saved in a checkpoint were measured with its obs_samples: a rerun with other observation
    settings in the same state dir starts afresh instead of mixing old and new rows (a longer t_final
    still continues)."""
    short = dict(SPEC, task=dict(SPEC["task"], t_final=0.03))
    solve_cli(tmp_path, short, "part", state=tmp_path / "state")
    import json

    longer = dict(SPEC, method=dict(SPEC["method"], obs_samples=400))
    solve_cli(tmp_path, longer, "other_obs", state=tmp_path / "state")
    assert "resumed_from_t" not in json.loads((tmp_path / "other_obs" / "result.json").read_text())
    solve_cli(tmp_path, short, "part2", state=tmp_path / "state2")
    solve_cli(tmp_path, SPEC, "continued", state=tmp_path / "state2")
    assert json.loads((tmp_path / "continued" / "result.json").read_text())["resumed_from_t"] == 0.03
