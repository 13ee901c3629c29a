"""The optimisers of the steady-state loop on problems with known answers: NAGD+ (backtracking Nesterov
with restarts) step for step against a plain NumPy statement of the algorithm, Adam against the
textbook update, the SR step against the natural gradient, Gauss-Newton against least squares."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lindblad_nqs.vmc.optimizers import NAGD, SR, Adam, GaussNewton, Objective, Warmup, from_arrays, to_arrays


def quadratic(seed=0, n=20, cond=1e3):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    A = Q @ np.diag(np.logspace(0, np.log10(cond), n)) @ Q.T
    return A, rng.normal(size=n)


def run(opt, A, x0, iters, noise=0.0):
    """f = theta A theta / 2; returns f at the end, the state and the history of (y, info)."""
    Aj = jnp.asarray(A)
    state = opt.init(jnp.asarray(x0))
    trace = []
    for _ in range(iters):
        y = opt.point(state)
        state, info = opt.update(state, Aj @ y, 0.5 * y @ Aj @ y, noise, None)
        trace.append((np.asarray(y), {k: np.asarray(v).item() for k, v in info.items()}))
    th = np.asarray(opt.params(state))
    return 0.5 * th @ A @ th, state, trace


def f_objective(A):
    Aj = jnp.asarray(A)
    return Objective(lambda th, data: (0.5 * th @ Aj @ th, 1.0))


def nagd_reference(x0, grad, f, iters, lr, shrink=0.5, grow=1.2, max_backtrack=8, c=0.5, noise=0.0):
    """NAGD+ as stated in vmc.optimizers, in plain NumPy: the evaluation points y and (step, backtracks, restart)."""
    theta, prev, t, eta, last = x0.copy(), x0.copy(), 1.0, lr, np.inf
    out = []
    for _ in range(iters):
        tn = (1 + np.sqrt(1 + 4 * t**2)) / 2
        y = theta + (t - 1) / tn * (theta - prev)
        g, cost = grad(y), f(y)
        for n_bt in range(max_backtrack + 1):
            new = y - eta * g
            if np.isfinite(f(new)) and f(new) <= cost - c * eta * (g @ g):
                break
            if n_bt < max_backtrack:
                eta *= shrink
        restart = g @ (new - theta) > 0 or cost > last + noise
        out.append((y, eta, n_bt, restart))
        if restart:
            t, prev = 1.0, new.copy()
        else:
            t, prev = tn, theta
        theta, last, eta = new, cost, eta * grow
    return out


def test_nagd_follows_the_algorithm_step_for_step():
    A, x0 = quadratic(seed=1, cond=1e4)
    L = np.linalg.eigvalsh(A).max()
    with jax.enable_x64(True):
        _, state, trace = run(NAGD(f_objective(A), lr=10.0 / L), A, x0, 200)
    ref = nagd_reference(x0, lambda th: A @ th, lambda th: 0.5 * th @ A @ th, 200, 10.0 / L)
    assert sum(r[3] for r in ref) > 0 and sum(r[2] for r in ref) > 0  # both restarts and backtracking occur
    for (y, info), (y_ref, eta, n_bt, restart) in zip(trace, ref):
        np.testing.assert_allclose(y, y_ref, rtol=1e-10, atol=1e-12)
        assert info["step"] == pytest.approx(eta, rel=1e-12)
        assert (info["backtracks"], info["restart"]) == (n_bt, restart)


def test_nagd_beats_gradient_descent_and_backtracks():
    A, x0 = quadratic()
    L = np.linalg.eigvalsh(A).max()
    gd = x0.copy()
    for _ in range(300):
        gd = gd - A @ gd / L
    f_gd = 0.5 * gd @ A @ gd
    with jax.enable_x64(True):
        f_nagd, state, trace = run(NAGD(f_objective(A), lr=10.0 / L), A, x0, 300)
    assert f_nagd < 1e-3 * f_gd
    assert trace[0][1]["backtracks"] > 0 and trace[0][1]["step"] < 10.0 / L


def test_nagd_state_survives_a_checkpoint():
    A, x0 = quadratic(seed=2)
    opt = NAGD(f_objective(A), lr=0.05)
    _, a, _ = run(opt, A, x0, 7)
    b = from_arrays(opt.init(jnp.asarray(x0, jnp.float32)), to_arrays(a))
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def test_adam_is_the_textbook_update_with_its_decay():
    rng = np.random.default_rng(5)
    gs = rng.normal(size=(100, 3))
    lr, b1, b2, eps, decay = 0.1, 0.9, 0.999, 1e-8, 0.01 ** (1 / 100)
    with jax.enable_x64(True):
        opt = Adam(lr=lr, final_factor=0.01, horizon=100)
        state = opt.init(jnp.zeros(3))
        for g in gs:
            state, info = opt.update(state, jnp.asarray(g))
        step, got = float(info["step"]), np.asarray(opt.params(state))
    theta, m, v = np.zeros(3), np.zeros(3), np.zeros(3)
    for k, g in enumerate(gs, 1):
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g**2
        theta -= lr * decay**k * (m / (1 - b1**k)) / (np.sqrt(v / (1 - b2**k)) + eps)
    # optax evaluates the schedule's power from an int32 count in float32
    np.testing.assert_allclose(got, theta, rtol=1e-6)
    assert abs(step - 0.001) < 1e-9


def test_sr_step_is_natural_gradient():
    rng = np.random.default_rng(0)
    B, P = 50, 8
    O = rng.normal(size=(B, P)) + 1j * rng.normal(size=(B, P))
    g = rng.normal(size=P)
    with jax.enable_x64(True):
        for samples in (B, 4):  # P < B: dense solve; P > B: the sample-space (push-through) solve
            Oc = O[:samples] - O[:samples].mean(0)
            ws = np.full(samples, 1 / samples)
            S = (Oc.conj().T * ws) @ Oc
            ref = np.linalg.solve(S.real + 0.01 * np.eye(P), g)
            obj = Objective(None, log_derivatives=lambda th, d, s=samples, w=ws: (jnp.asarray(O[:s]), jnp.asarray(w)))
            opt = SR(obj, lr=1.0, diag_shift=0.01, max_norm=1e9)
            state, _ = opt.update(opt.init(jnp.zeros(P)), jnp.asarray(g), 0.0, 0.0, None)
            np.testing.assert_allclose(-np.asarray(opt.params(state)), ref, rtol=1e-6, atol=1e-8)


def _least_squares(seed, B, P):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(B, P)) + 1j * rng.normal(size=(B, P))
    y = rng.normal(size=B) + 1j * rng.normal(size=B)
    w = np.full(B, 1 / B)
    Aj, yj, wj = jnp.asarray(A), jnp.asarray(y), jnp.asarray(w)
    cost = lambda th: jnp.sum(wj * jnp.abs(Aj @ th - yj) ** 2)  # noqa: E731
    grad = lambda th: 2 * jnp.real((wj[:, None] * Aj).conj().T @ (Aj @ th - yj))  # noqa: E731
    obj = Objective(lambda th, d: (cost(th), 1.0), residuals=lambda th, d: (Aj @ th - yj, Aj, wj))
    M = np.concatenate([A.real, A.imag])
    ref = np.linalg.lstsq(M, np.concatenate([y.real, y.imag]), rcond=None)[0]
    return obj, cost, grad, ref


def test_gauss_newton_solves_a_linear_least_squares_problem():
    # residuals e = A theta - y (complex), uniform weights: Levenberg-Marquardt reaches the least-squares
    # solution, and a step that would raise the cost is never taken
    with jax.enable_x64(True):
        obj, cost, grad, ref = _least_squares(3, 40, 6)
        opt = GaussNewton(obj, lam=1.0, max_norm=1e9)
        state, costs = opt.init(jnp.zeros(6)), []
        for _ in range(30):
            th = opt.point(state)
            costs.append(float(cost(th)))
            state, _ = opt.update(state, grad(th), cost(th), 0.0, None)
        np.testing.assert_allclose(np.asarray(opt.params(state)), ref, rtol=1e-6, atol=1e-8)
    assert all(b <= a + 1e-12 for a, b in zip(costs, costs[1:]))


def test_adam_warmup_then_gauss_newton_resumes_from_a_checkpoint():
    with jax.enable_x64(True):
        obj, cost, grad, ref = _least_squares(4, 30, 5)

        def make():
            return Warmup(Adam(obj, lr=0.05), GaussNewton(obj, max_norm=1e9), 5)

        def steps(opt, state, k):
            for _ in range(k):
                th = opt.point(state)
                state, _ = opt.update(state, grad(th), cost(th), 0.0, None)
            return state

        a = make()
        sa = steps(a, a.init(jnp.zeros(5)), 3)
        assert int(sa["n"]) == 3 and np.linalg.norm(np.asarray(a.params(sa))) > 0
        b = make()
        sb = from_arrays(b.init(jnp.zeros(5)), to_arrays(sa))
        sa, sb = steps(a, sa, 20), steps(b, sb, 20)
        np.testing.assert_array_equal(np.asarray(a.params(sa)), np.asarray(b.params(sb)))
        np.testing.assert_allclose(np.asarray(a.params(sa)), ref, rtol=1e-6, atol=1e-8)


def test_gauss_newton_matrix_is_that_of_the_residual_L_rho():
    # full sum over all doubled configurations: Re sum w K^dag K and Re sum w K^dag e from the sampled
    # form equal J^T J and J^T r of the dense residual r(theta) = L vec(rho)/||rho|| (J by finite differences)
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from lindblad_nqs.liouvillian import dense_liouvillian
    from lindblad_nqs.model import Jump, Lattice, SpinSystem
    from lindblad_nqs.nets.rbm_ndo import RBMDensityOperator
    from lindblad_nqs.vmc.configs import all_doubled
    from lindblad_nqs.vmc.cost import make_residual_jacobian
    from lindblad_nqs.vmc.local_estimator import LocalLiouvillian
    from lindblad_nqs.vmc.sampling import prng_key

    system = SpinSystem(Lattice((2,), False), (0.3, 0.0, 0.5), (0.6, 0.0, 0.2),
                        (Jump("sigma_minus", 1.0), Jump("sigma_z", 0.3)))
    module = RBMDensityOperator(n_sites=2, alpha=1, ancilla=1, init_std=0.3)
    theta, unravel = ravel_pytree(module.init(prng_key(4), jnp.zeros((1, 2, 2), jnp.int8)))
    f = lambda th, x: module.apply(unravel(th), x)  # noqa: E731
    X = jnp.asarray(all_doubled(2))
    e, K, w = (np.asarray(a) for a in make_residual_jacobian(f, LocalLiouvillian(system))(theta, X, jnp.zeros(X.shape[0])))
    sw = np.sqrt(w)[:, None]
    G = ((sw * K).conj().T @ (sw * K)).real
    b = ((sw * K).conj().T @ (sw[:, 0] * e)).real
    L = dense_liouvillian(system)
    th64 = np.asarray(theta, np.float64)

    def resid(th):
        v = np.exp(np.asarray(f(jnp.asarray(th, jnp.float32), X)).astype(complex))
        return L @ v / np.linalg.norm(v)

    h = 1e-2
    J = np.stack([(resid(th64 + h * u) - resid(th64 - h * u)) / (2 * h) for u in np.eye(th64.size)], axis=1)
    r = resid(th64)
    np.testing.assert_allclose(G, (J.conj().T @ J).real, rtol=0.03, atol=0.03 * np.abs(G).max())
    np.testing.assert_allclose(b, (J.conj().T @ r).real, rtol=0.03, atol=0.03 * np.abs(b).max())
