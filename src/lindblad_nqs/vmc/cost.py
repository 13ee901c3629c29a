"""The L2 steady-state cost C = ||L rho||^2 / ||rho||^2 and its gradient from samples.

Samples x_i come with the log density lq_i (up to a constant) of the distribution they were drawn from:
lq = 2 beta Re log rho at sampling time for Metropolis from |rho|^(2 beta), lq = 0 for full summation
over all configurations. The self-normalised importance weights to p ~ |rho|^2 are

    w_i = exp(2 Re log rho_theta(x_i) - lq_i) / sum_j (...),

so beta != 1 is corrected exactly (Mellak et al.'s reweighting), and the same samples give the cost at a
trial theta' (backtracking in NAGD+). With C_loc = |L_loc|^2, C = sum_i w_i C_loc_i and

    grad C = sum_i w_i [grad C_loc_i + (C_loc_i - C) grad 2 Re log rho(x_i)],

the derivative of sum_x |rho|^2 C_loc / sum_x |rho|^2, implemented as a surrogate whose gradient it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CostFunctions:
    value_and_grad: object  # (theta, x, lq) -> (cost, grad, aux dict)
    value: object  # (theta, x, lq) -> (cost, aux)
    log_rho: object  # (theta, x) -> complex, jitted


def make_cost(log_rho_flat, lind, chunk: int | None = None, estimator: str = "l2") -> CostFunctions:
    """log_rho_flat(theta, x) with flat real parameters theta; lind a vmc.local_estimator.LocalLiouvillian.

    estimator 'l2': C_loc = |L_loc|^2 (the paper's Eq. 11). 'ldagl': C_loc = (L^dag L rho)(x)/rho(x), the same
    cost <<rho|L^dag L|rho>>/<<rho|rho>> with the gradient 2 Re E[(O - <O>)^* (C_loc - C)]; it also sees
    configurations where rho vanishes but L rho does not, at (1 + M) times the cost per sample."""
    import jax
    import jax.numpy as jnp

    if estimator == "ldagl":
        return _make_ldagl_cost(log_rho_flat, lind)

    def local(theta, x, tables):
        lr = log_rho_flat(theta, x)
        lloc = lind.local_values(lambda y: log_rho_flat(theta, y), x, lr, tables)
        return lr, lloc

    def weights(lr, lq):
        a = jax.lax.stop_gradient(2 * lr.real - lq)
        return jax.nn.softmax(a)

    def surrogate(theta, x, lq, tables):
        lr, lloc = local(theta, x, tables)
        cl = jnp.abs(lloc) ** 2
        w = weights(lr, lq)
        c = jnp.sum(w * cl)
        s = jnp.sum(w * (cl + jax.lax.stop_gradient(cl - c) * 2 * lr.real))
        var = jnp.sum(w * (cl - c) ** 2)
        ess = 1.0 / jnp.sum(w**2)
        return s, dict(cost=jax.lax.stop_gradient(c), var=jax.lax.stop_gradient(var), ess=ess)

    vg = jax.value_and_grad(surrogate, has_aux=True)

    @jax.jit
    def _value_and_grad(theta, x, lq, tables):
        (_, aux), g = vg(theta, x, lq, tables)
        return aux["cost"], g, aux

    @jax.jit
    def _value(theta, x, lq, tables):
        _, aux = surrogate(theta, x, lq, tables)
        return aux["cost"], aux

    # the Liouvillian's tables travel as arguments: one compilation serves every coupling of a sweep
    return CostFunctions(lambda th, x, lq: _value_and_grad(th, x, lq, lind.tables),
                         lambda th, x, lq: _value(th, x, lq, lind.tables), jax.jit(log_rho_flat))


def make_residual_jacobian(log_rho_flat, lind):
    """(theta, x, lq) -> (e, K, w) for the Gauss-Newton step: the local residuals e_i = L_loc(x_i), their
    Jacobian K_i = d e_i/d theta + e_i (O_i - Re <O>) (O = d log rho / d theta; the second term is the
    derivative of the 1/||rho|| normalisation) and the importance weights w_i to |rho|^2. Then
    C = sum_i w_i |e_i|^2, grad C = 2 Re sum_i w_i e_i^* K_i, and the Gauss-Newton matrix of the
    least-squares problem min ||L rho||/||rho|| is Re sum_i w_i K_i^dag K_i."""
    import jax
    import jax.numpy as jnp

    def res(theta, xi, tables):
        x1 = xi[None]
        e = lind.local_values(lambda y: log_rho_flat(theta, y), x1, None, tables)[0]
        v = jnp.stack([e.real, e.imag])
        return v, v

    def amp(theta, xi):
        lr = log_rho_flat(theta, xi[None])[0]
        v = jnp.stack([lr.real, lr.imag])
        return v, v

    def fn(theta, x, lq, tables):
        # two Jacobians: d e (through the connected configurations) and O (through x alone)
        Je, ev = jax.vmap(jax.jacrev(res, has_aux=True), in_axes=(None, 0, None))(theta, x, tables)  # (B, 2, P)
        Jl, lv = jax.vmap(jax.jacrev(amp, has_aux=True), in_axes=(None, 0))(theta, x)
        vals = jnp.concatenate([ev, lv], axis=1)
        J = jnp.concatenate([Je, Jl], axis=1)
        e = vals[:, 0] + 1j * vals[:, 1]
        de, O = J[:, 0] + 1j * J[:, 1], J[:, 2] + 1j * J[:, 3]
        w = jax.nn.softmax(2 * vals[:, 2] - lq)
        o_mean = jnp.sum(w[:, None] * O.real, axis=0)
        K = de + e[:, None] * (O - o_mean[None, :])
        return e, K, w

    jfn = jax.jit(fn)
    return lambda theta, x, lq: jfn(theta, x, lq, lind.tables)


def exact_cost(rho_vec: np.ndarray, L) -> float:
    """||L rho||^2 / ||rho||^2 for a dense row-major vec(rho) and a (sparse) Liouvillian."""
    r = L @ rho_vec
    return float(np.vdot(r, r).real / np.vdot(rho_vec, rho_vec).real)


def _make_ldagl_cost(log_rho_flat, lind) -> CostFunctions:
    import jax
    import jax.numpy as jnp

    from .local_estimator import LocalLiouvillian, ldagl_local_values

    ladj = LocalLiouvillian(lind.system, adjoint=True)

    def surrogate(theta, x, lq, tables, tables_adj):
        lr = log_rho_flat(theta, x)
        eloc = jax.lax.stop_gradient(
            ldagl_local_values(lind, ladj, lambda y: log_rho_flat(theta, y), x, lr, tables, tables_adj))
        w = jax.nn.softmax(jax.lax.stop_gradient(2 * lr.real - lq))
        c = jnp.sum(w * eloc).real
        centred = eloc - c
        s = 2 * jnp.sum(w * jnp.real(jnp.conj(lr) * centred))
        var = jnp.sum(w * jnp.abs(centred) ** 2)
        ess = 1.0 / jnp.sum(w**2)
        return s, dict(cost=c, var=var, ess=ess)

    vg = jax.value_and_grad(surrogate, has_aux=True)

    @jax.jit
    def _value_and_grad(theta, x, lq, tables, tables_adj):
        (_, aux), g = vg(theta, x, lq, tables, tables_adj)
        return aux["cost"], g, aux

    @jax.jit
    def _value(theta, x, lq, tables, tables_adj):
        _, aux = surrogate(theta, x, lq, tables, tables_adj)
        return aux["cost"], aux

    return CostFunctions(lambda th, x, lq: _value_and_grad(th, x, lq, lind.tables, ladj.tables),
                         lambda th, x, lq: _value(th, x, lq, lind.tables, ladj.tables), jax.jit(log_rho_flat))
