"""NAGD+ (backtracking Nesterov with restarts) and the SR step on problems with known answers."""

import numpy as np

from lindblad_nqs.vmc.optimizers import NAGD, SR, Adam


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
