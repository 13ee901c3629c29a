"""The shared variational layer against independent answers: linear algebra, known ODEs, exact dynamics."""

import numpy as np
import pytest

from lindblad_nqs.checkpoint import CheckpointError, Checkpointer, fingerprint
from lindblad_nqs.variational import linsolve, tdvp
from lindblad_nqs.variational.integrators import evolve


def _problem(ns=40, p=12, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(ns, p)) @ np.diag(np.logspace(0, -6, p))
    return A, A.T @ rng.normal(size=ns)


@pytest.mark.parametrize("method", ["shift", "pinv", "soft"])
def test_sample_space_equals_parameter_space(method):
    A, F = _problem(ns=8, p=20)  # fewer samples than parameters: the SVD / push-through path
    x1, _ = linsolve.solve(F, A=A, method=method, shift=1e-3, rcond=1e-4)
    x2, _ = linsolve.solve(F, S=A.T @ A, method=method, shift=1e-3, rcond=1e-4)
    np.testing.assert_allclose(x1, x2, rtol=1e-7, atol=1e-9)


def test_regularisations_against_direct_formulas():
    A, F = _problem()
    S = A.T @ A
    x, _ = linsolve.solve(F, A=A, method="shift", shift=1e-2)
    np.testing.assert_allclose(x, np.linalg.solve(S + 1e-2 * np.eye(len(F)), F), rtol=1e-10)
    x, info = linsolve.solve(F, A=A, method="pinv", rcond=1e-5)
    np.testing.assert_allclose(x, np.linalg.pinv(S, rcond=1e-5, hermitian=True) @ F, rtol=1e-6, atol=1e-10)
    lam = np.linalg.eigvalsh(S)
    assert int(info.cut) == int(np.sum(lam <= 1e-5 * lam.max()))


def test_snr_cutoff_drops_pure_noise_and_survives_zero_over_zero():
    rng = np.random.default_rng(1)
    ns, p = 2000, 3
    # mode 0: signal well above noise; mode 1: zero mean noise; mode 2: no signal and no noise (0/0)
    q = np.stack([1.0 + 0.1 * rng.normal(size=ns), rng.normal(size=ns), np.zeros(ns)], axis=1)
    F = q.mean(0)
    S = np.eye(p)
    x, info = linsolve.solve(F, S=S, method="snr", rcond=1e-12, snr_tol=2.0, per_sample=q)
    assert np.all(np.isfinite(x))
    assert abs(x[0] - F[0]) < 1e-6 and abs(x[1]) < abs(F[1]) * 0.5 and x[2] == 0


def test_rk4_exact_save_times_and_fourth_order():
    lam = -1.3 + 2.0j

    def f(th, t):
        z = th[0] + 1j * th[1]
        d = lam * z
        return np.array([d.real, d.imag]), np.linalg.norm, {}

    saves = []
    errs = []
    for dt in (0.03, 0.015):
        th, _ = evolve(f, np.array([1.0, 0.0]), 0.0, np.array([0.0, 0.25, 0.5, 1.0]), dt,
                       on_save=lambda t, th, d: saves.append(t))
        errs.append(abs(th[0] + 1j * th[1] - np.exp(lam)))
    assert saves[:3] == [0.25, 0.5, 1.0]  # hit exactly although 0.25 is no multiple of 0.03
    assert 12 < errs[0] / errs[1] < 20  # 2^4 = 16


def test_heun_meets_its_tolerance_and_adapts():
    # y' = -50 (y - cos t): fast transient then slow drift; the step must grow after the transient
    def f(th, t):
        return np.array([-50.0 * (th[0] - np.cos(t))]), np.linalg.norm, {}

    steps = []
    th, _ = evolve(f, np.array([0.0]), 0.0, np.array([2.0]), 1e-3, integrator="heun", tol=1e-5,
                   on_step=lambda t, r: steps.append(r.dt))
    # exact solution of the linear ODE
    t = 2.0
    c = 50.0 / (50.0**2 + 1)
    exact = c * (50 * np.cos(t) + np.sin(t)) - c * 50 * np.exp(-50 * t)
    assert abs(th[0] - exact) < 1e-3
    assert max(steps) > 10 * min(steps)


@pytest.mark.parametrize("integrator", ["rk4", "heun"])
def test_only_the_first_stage_is_asked_for_diagnostics(integrator):
    """A step keeps its first stage's diag only: the other stages are called with report=False (the
    shift solve then skips the spectrum of S); an f without the argument still works, with the same result."""
    calls = []

    def f(th, t, report=True):
        calls.append(report)
        return -th, np.linalg.norm, ({"residual": float(t)} if report else {})

    steps = []
    th, _ = evolve(f, np.array([1.0]), 0.0, np.array([0.05]), 0.01, integrator=integrator, tol=1e-6,
                   on_step=lambda t, r: steps.append(r))
    rejected = sum(r.rejected for r in steps)
    per_step = 4 if integrator == "rk4" else 2
    assert len(calls) == per_step * len(steps) + rejected and calls.count(True) == len(steps)
    assert all(r.diag for r in steps)  # every step's diag is its first stage's, never an empty one
    th2, _ = evolve(lambda th, t: f(th, t)[:2] + ({},), np.array([1.0]), 0.0, np.array([0.05]), 0.01,
                    integrator=integrator, tol=1e-6)
    assert th2[0] == th[0]


def test_solve_without_report_gives_the_same_update():
    """report False keeps the residual only (the shift solve skips the spectrum of S) and changes nothing
    else: the same theta_dot and metric to the bit, for every regularisation."""
    rng = np.random.default_rng(3)
    O = rng.normal(size=(40, 6)) + 1j * rng.normal(size=(40, 6))
    E = rng.normal(size=40) + 1j * rng.normal(size=40)
    for method in ("shift", "pinv", "soft", "snr"):
        opts = tdvp.TDVPOptions(method, 1e-3, 1e-6, 2.0)
        x1, A1, d1 = tdvp.solve(O, E, opts, xp=np)
        x0, A0, d0 = tdvp.solve(O, E, opts, xp=np, report=False)
        assert set(d0) == {"residual"} and d0["residual"] == d1["residual"]
        assert set(d1) == {"residual", "condition", "cut", "kept", "lambda_max"}
        assert np.array_equal(x0, x1) and np.array_equal(A0, A1)
        assert tdvp.skips_work(opts) == (method == "shift")


def test_tdvp_full_rank_reproduces_exact_dynamics():
    """Two spins, log rho as a full table (every direction of the tangent space), exact sums over all
    doubled configurations weighted by |rho|^2: the TDVP must be the exact Lindblad flow. A wrong sign
    or factor in S or F, or a missing centring, fails this."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    from scipy.linalg import expm

    from lindblad_nqs.liouvillian.connected import dense_liouvillian
    from lindblad_nqs.model import PRODUCT_STATES
    from lindblad_nqs.spec import parse_system
    from lindblad_nqs.variational import tdvp
    from lindblad_nqs.variational.state import FlatState
    from lindblad_nqs.vmc.configs import all_doubled
    from lindblad_nqs.vmc.local_estimator import LocalLiouvillian

    with jax.enable_x64(True):
        system = parse_system({"lattice": {"shape": [2], "boundary": "open"},
                               "preset": {"name": "heisenberg", "Jx": 2.0, "Jy": 0.0, "Jz": 1.0, "B": 1.0}})
        X = jnp.asarray(all_doubled(2))
        # a full-rank start whose elements stay away from zero (log rho is singular there)
        psi = np.kron(PRODUCT_STATES["y-"], PRODUCT_STATES["y-"])
        rho0 = 0.9 * np.outer(psi, psi.conj()) + 0.1 * np.eye(4) / 4
        lg = np.log(rho0.ravel().astype(complex))
        params = {"re": jnp.asarray(lg.real), "im": jnp.asarray(lg.imag)}

        def apply(p, x):
            i = (x[..., 0, 0] * 2 + x[..., 0, 1]) * 4 + x[..., 1, 0] * 2 + x[..., 1, 1]
            return p["re"][i] + 1j * p["im"][i]

        state = FlatState.from_module(None, params, X[:1], apply=apply)
        lind = LocalLiouvillian(system, dtype=np.complex128)
        opts = tdvp.TDVPOptions("pinv", 0.0, 1e-12)

        def f(theta, t):
            lv = state.log_value(theta, X)
            w = jnp.exp(2 * (lv.real - lv.real.max()))
            E = lind.local_values(lambda xx: state.log_value(theta, xx), X, lv)
            x, A, d = tdvp.solve(state.jacobian(theta, X), E, opts, w=w / w.sum())
            return x, (lambda v: jnp.linalg.norm(A @ v)), d

        theta, _ = evolve(f, state.theta0, 0.0, np.array([1.0]), 0.01)
        rho = np.exp(np.asarray(state.log_value(theta, X))).reshape(4, 4)  # X is in the order of vec(rho)
        rho /= np.trace(rho)
        exact = (expm(dense_liouvillian(system).toarray() * 1.0) @ rho0.ravel()).reshape(4, 4)
        assert np.abs(rho - exact).max() < 1e-6


@pytest.mark.parametrize("suffix", [".npz", ".pt"])
def test_checkpointer_policy(tmp_path, suffix):
    if suffix == ".pt":
        pytest.importorskip("torch")
    spec = {"system": {"a": 1}, "task": {"t_final": 1.0}, "method": {"name": "m", "obs_samples": 10}, "seed": 0}
    fp = fingerprint(spec, ("obs_samples",), ("t_final",))
    longer = dict(spec, task={"t_final": 2.0}, method={"name": "m", "obs_samples": 99})
    assert fingerprint(longer, ("obs_samples",), ("t_final",)) == fp
    assert fingerprint(dict(spec, seed=1), ("obs_samples",), ("t_final",)) != fp
    path = tmp_path / f"c{suffix}"
    ck = Checkpointer(path, fp)
    assert ck.load() is None
    ck.save({"theta": np.arange(3.0) if suffix == ".npz" else __import__("torch").arange(3.0)}, {"t": 0.5})
    arrays, meta = ck.load()
    assert meta["t"] == 0.5 and np.asarray(arrays["theta"]).tolist() == [0, 1, 2]
    assert Checkpointer(path, "other").load() is None
    path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=f"c{suffix}"):
        ck.load()


def test_an_archive_without_a_fingerprint_is_another_runs(tmp_path):
    """A checkpoint.npz of the driver's earlier format (no __fingerprint__) is ignored, not refused."""
    np.savez(tmp_path / "checkpoint.npz", iteration=3, fingerprint=np.array("{}"))
    assert Checkpointer(tmp_path / "checkpoint.npz", "{}").load() is None


def test_streamed_tdvp_equals_the_direct_solve():
    """The chunked moment assembly (for sample counts whose Jacobian and local values do not fit in
    memory) gives the same update, metric, residual and <|E|> as the direct solve on the same samples."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    from lindblad_nqs.variational import tdvp

    with jax.enable_x64(True):
        rng = np.random.default_rng(3)
        B, P = 64, 7
        W = jnp.asarray(rng.normal(size=(3, P)) + 1j * rng.normal(size=(3, P)))
        u, v = jnp.asarray(rng.normal(size=3)), jnp.asarray(rng.normal(size=3))
        x = jnp.asarray(rng.normal(size=(B, 3)))
        jac = lambda xc: jnp.tanh(xc @ W) + 0.1 * xc[:, :1]  # any (B, P) complex function of the samples
        loc = lambda xc: jnp.sin(xc @ u) + 1j * jnp.cos(xc @ v)  # and any local value
        for method in ("shift", "pinv", "soft"):
            opts = tdvp.TDVPOptions(method, 1e-3, 1e-6)
            ref, A, d_ref = tdvp.solve(jac(x), loc(x), opts)
            got, S, d = tdvp.solve_streamed(lambda xc: (jac(xc), loc(xc)), x, opts, chunk=16)
            np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(np.asarray(S), np.asarray(A.T @ A), rtol=1e-10, atol=1e-13)
            assert float(d["residual"]) == pytest.approx(float(d_ref["residual"]), rel=1e-8)
            assert float(d["mean_abs_E"]) == pytest.approx(float(jnp.mean(jnp.abs(loc(x)))))
        with pytest.raises(ValueError, match="snr"):
            tdvp.solve_streamed(lambda xc: (jac(xc), loc(xc)), x, tdvp.TDVPOptions("snr"), chunk=16)
