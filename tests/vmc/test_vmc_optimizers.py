"""NAGD+ (backtracking Nesterov with restarts) and the SR step on problems with known answers."""

import numpy as np

from lindblad_nqs.vmc.optimizers import NAGD, SR, Adam, GaussNewton, Warmup


def quadratic(seed=0, n=20, cond=1e3):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    A = Q @ np.diag(np.logspace(0, np.log10(cond), n)) @ Q.T
    return A, rng.normal(size=n)


def run(opt, A, iters):
    f = lambda th: 0.5 * th @ A @ th
    for _ in range(iters):
        y = opt.point()
        opt.update(A @ y, f(y), lambda th: (f(th), 1.0))
    return f(opt.theta)


def test_nagd_beats_gradient_descent_and_backtracks():
    A, x0 = quadratic()
    L = np.linalg.eigvalsh(A).max()
    gd = x0.copy()
    for _ in range(300):
        gd = gd - A @ gd / L
    f_gd = 0.5 * gd @ A @ gd
    opt = NAGD(x0, lr=10.0 / L)  # too large a first step: backtracking must shrink it
    f_nagd = run(opt, A, 300)
    assert f_nagd < 1e-3 * f_gd
    assert opt.eta < 10.0 / L * opt.grow


def test_nagd_restarts_reset_momentum():
    A, x0 = quadratic(seed=1, cond=1e4)
    opt = NAGD(x0, lr=1.0 / np.linalg.eigvalsh(A).max())
    run(opt, A, 200)
    assert opt.restarts > 0


def test_sr_step_is_natural_gradient():
    rng = np.random.default_rng(0)
    B, P = 50, 8
    O = rng.normal(size=(B, P)) + 1j * rng.normal(size=(B, P))
    w = np.full(B, 1 / B)
    g = rng.normal(size=P)
    for samples in (B, 4):  # P < B: dense solve; P > B: the sample-space (push-through) solve
        Oc = O[:samples] - O[:samples].mean(0)
        ws = np.full(samples, 1 / samples)
        S = (Oc.conj().T * ws) @ Oc
        ref = np.linalg.solve(S.real + 0.01 * np.eye(P), g)
        opt = SR(np.zeros(P), lr=1.0, diag_shift=0.01, max_norm=1e9)
        opt.update(g, 0.0, jac=lambda: (O[:samples], ws))
        np.testing.assert_allclose(-opt.theta, ref, rtol=1e-6, atol=1e-8)


def test_adam_decay_reaches_final_factor():
    opt = Adam(np.zeros(3), lr=0.1, final_factor=0.01, horizon=100)
    for _ in range(100):
        opt.update(np.ones(3), 0.0)
    assert abs(opt.info["step"] - 0.001) < 1e-9


def test_gauss_newton_solves_a_linear_least_squares_problem():
    # residuals e = A theta - y (complex), uniform weights: Levenberg-Marquardt reaches the least-squares
    # solution, and a step that would raise the cost is never taken
    rng = np.random.default_rng(3)
    B, P = 40, 6
    A = rng.normal(size=(B, P)) + 1j * rng.normal(size=(B, P))
    y = rng.normal(size=B) + 1j * rng.normal(size=B)
    w = np.full(B, 1 / B)
    cost = lambda th: float(np.sum(w * np.abs(A @ th - y) ** 2))  # noqa: E731
    opt = GaussNewton(np.zeros(P), lam=1.0, max_norm=1e9)
    costs = []
    for _ in range(30):
        th = opt.point()
        costs.append(cost(th))
        opt.update(None, cost(th), lambda t: (cost(t), 1.0), lambda: (A @ th - y, A, w))
    M = np.concatenate([A.real, A.imag])
    ref = np.linalg.lstsq(M, np.concatenate([y.real, y.imag]), rcond=None)[0]
    np.testing.assert_allclose(opt.theta, ref, rtol=1e-6, atol=1e-8)
    assert all(b <= a + 1e-12 for a, b in zip(costs, costs[1:]))


def test_adam_warmup_then_gauss_newton_resumes_from_a_checkpoint():
    rng = np.random.default_rng(4)
    A = rng.normal(size=(30, 5)) + 1j * rng.normal(size=(30, 5))
    y = rng.normal(size=30) + 0j
    w = np.full(30, 1 / 30)
    cost = lambda th: float(np.sum(w * np.abs(A @ th - y) ** 2))  # noqa: E731
    grad = lambda th: 2 * np.real((w[:, None] * A).conj().T @ (A @ th - y))  # noqa: E731

    def make():
        return Warmup(Adam(np.zeros(5), lr=0.05), GaussNewton(np.zeros(5), max_norm=1e9), 5)

    def steps(opt, k):
        for _ in range(k):
            th = opt.point()
            opt.update(grad(th), cost(th), lambda t: (cost(t), 1.0), lambda th=th: (A @ th - y, A, w))

    a = make()
    steps(a, 3)
    assert a.active is a.first and np.linalg.norm(a.theta) > 0
    b = make()
    b.load(a.state())
    steps(a, 20)
    steps(b, 20)
    np.testing.assert_array_equal(a.theta, b.theta)
    M = np.concatenate([A.real, A.imag])
    ref = np.linalg.lstsq(M, np.concatenate([y.real, y.imag]), rcond=None)[0]
    np.testing.assert_allclose(a.theta, ref, rtol=1e-6, atol=1e-8)


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
