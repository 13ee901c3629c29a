"""Optimisers of the steady-state loop on the flat real parameter vector, on the device.

Every optimiser has the same protocol (vmc.driver.optimise drives it); its state is a pytree of JAX
arrays that never leaves the device between iterations:

    state = opt.init(theta)
    y = opt.point(state)                                   where to sample and take the gradient
    state, info = opt.update(state, g, cost, cost_err, data)  info: scalars for the history row
    theta = opt.params(state)                              the current parameters
    state = opt.rollback(state, good)                      after a non-finite cost: back to `good`, smaller step

`data` holds the samples drawn at y (a pytree); the `Objective` bound at construction evaluates the
cost on them at any theta (importance-reweighted: the trial costs of backtracking reuse the samples)
and, for the preconditioned steps, their Jacobians. `to_arrays` / `from_arrays` turn a state into the
named arrays of a checkpoint and back.

Adam: optax's scale_by_adam with an exponential decay of the rate to lr * final_factor after `horizon`
updates (optax.exponential_decay); a rollback halves the base rate and restarts the moments.

NAGD+ (Nesterov's accelerated gradient with backtracking and restarts, after Mellak et al., PRB 107,
205102 (2023); mellak2024 uses it as "NAGD+"): a backtracking line search sets the step eta along -g at
the momentum point y: eta is accepted when the cost on the same samples satisfies the sufficient
decrease C(y - eta g) <= C(y) - c eta |g|^2 (c = 1/2, the L-smooth bound), else it shrinks, up to
max_backtrack times, and the last trial is taken; a trial point whose importance weights degenerate
(ESS below min_ess of the ESS at y) fails; afterwards eta grows by `grow` so it can recover. The update
is the optax chain (scale by -eta, `nesterov_restart`): theta_{k+1} = y - eta g, and the next point is
y = theta_{k+1} + (t_k - 1)/t_{k+1} (theta_{k+1} - theta_k), t_{k+1} = (1 + sqrt(1 + 4 t_k^2))/2, with the
momentum reset (t = 1) when the gradient at y points along the last step or the cost at y rose above the
previous iteration's by more than twice its standard error (O'Donoghue & Candes' adaptive restart).
Because the trial cost reuses the samples at y, the comparison is free of most of the Monte Carlo noise.

SR and Gauss-Newton are preconditioners: each step is one regularised solve of variational.linsolve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

from ..variational import linsolve, tdvp


@dataclass(frozen=True)
class Objective:
    """The cost on the samples of one iteration, as functions of theta (traceable by jit).

    value(theta, data) -> (cost, ess_fraction): the ESS of the reweighting to theta relative to the
    one at the sampling point (1 when there is nothing to reweight); residuals(theta, data) -> (e, K, w)
    for Gauss-Newton (vmc.cost.make_residual_jacobian); log_derivatives(theta, data) -> (O, w) for SR."""
    value: Callable
    residuals: Callable | None = None
    log_derivatives: Callable | None = None


# --- NAGD+: an optax chain and the line search that sets its step ---------------------------------------
class NesterovState(NamedTuple):
    theta: object  # theta_k, the iterate (what the run reports)
    prev: object  # theta_{k-1}
    t: object
    last_cost: object
    restarts: object
    restart: object  # whether the last update restarted


def _t_next(t):
    import jax.numpy as jnp

    return (1 + jnp.sqrt(1 + 4 * t**2)) / 2


def nesterov_restart():
    """optax transformation: the step from the momentum point y (params) to theta_{k+1} -> the update
    from y to the next momentum point. Extra arguments: value (the cost at y), grad (at y), noise."""
    import jax.numpy as jnp
    import optax

    def init(params):
        z = jnp.zeros((), params.dtype)
        return NesterovState(params, params, z + 1, z + jnp.inf, jnp.zeros((), jnp.int32), jnp.zeros((), bool))

    def update(step, state, params, *, value, grad, noise, **_):
        new = params + step
        restart = (jnp.vdot(grad, new - state.theta) > 0) | (value > state.last_cost + noise)
        t = jnp.where(restart, 1.0, _t_next(state.t)).astype(state.t.dtype)
        prev = jnp.where(restart, new, state.theta)
        y_next = new + (t - 1) / _t_next(t) * (new - prev)
        return y_next - params, NesterovState(new, prev, t, jnp.asarray(value, state.last_cost.dtype),
                                              state.restarts + restart, restart)

    return optax.GradientTransformationExtraArgs(init, update)


class NAGD:
    """NAGD+: optax.chain(scale by -eta, nesterov_restart), eta from a backtracking line search on the
    samples at y. The trial costs are separate jitted calls whose scalars the search reads (the cost's
    Liouvillian tables stay arguments of its one compilation); parameters never leave the device."""

    name = "nagd"

    def __init__(self, objective: Objective, lr=0.05, shrink=0.5, grow=1.2, max_backtrack=8, c=0.5, min_ess=0.5):
        import jax
        import optax

        self.objective, self.lr = objective, lr
        self.shrink, self.grow, self.max_backtrack, self.c, self.min_ess = shrink, grow, max_backtrack, c, min_ess
        self.tx = optax.chain(optax.inject_hyperparams(optax.scale)(step_size=-lr), nesterov_restart())
        self._apply = jax.jit(self._apply_impl)
        self._trial_point = jax.jit(lambda y, g, eta: y - eta * g)
        self._gn2 = jax.jit(lambda g: g @ g)

    def init(self, theta):
        import jax.numpy as jnp

        return {"y": theta, "eta": jnp.asarray(self.lr, theta.dtype), "tx": self.tx.init(theta)}

    def point(self, state):
        return state["y"]

    def params(self, state):
        return state["tx"][1].theta

    def _apply_impl(self, state, g, cost, cost_err, eta):
        scale, nest = state["tx"]
        scale.hyperparams["step_size"] = -eta.astype(g.dtype)
        upd, tx = self.tx.update(g, (scale, nest), state["y"], value=cost, grad=g, noise=2 * cost_err)
        return {"y": state["y"] + upd, "eta": (eta * self.grow).astype(state["eta"].dtype), "tx": tx}

    def update(self, state, g, cost, cost_err, data):
        import jax.numpy as jnp

        y, cost_h, gn2 = state["y"], float(cost), float(self._gn2(g))
        eta, ok = float(state["eta"]), False
        for n_bt in range(self.max_backtrack + 1):
            c_new, ess = (float(v) for v in self.objective.value(self._trial_point(y, g, eta), data))
            if np.isfinite(c_new) and ess >= self.min_ess and c_new <= cost_h - self.c * eta * gn2:
                ok = True
                break
            if n_bt < self.max_backtrack:
                eta *= self.shrink
        state = self._apply(state, g, cost, cost_err, jnp.asarray(eta))
        return state, {"step": eta, "backtracks": n_bt, "accepted": ok, "restart": state["tx"][1].restart}

    def rollback(self, state, good, factor=0.5):
        import jax.numpy as jnp

        scale, nest = state["tx"]
        nest = nest._replace(theta=good, prev=good, t=jnp.ones_like(nest.t), last_cost=jnp.full_like(nest.last_cost, jnp.inf))
        return {"y": good, "eta": state["eta"] * factor, "tx": (scale, nest)}


# --- Adam ------------------------------------------------------------------------------------------
class Adam:
    """optax Adam; the rate decays exponentially from lr to lr * final_factor over `horizon` updates."""

    name = "adam"

    def __init__(self, objective: Objective | None = None, lr=0.01, b1=0.9, b2=0.999, eps=1e-8, final_factor=1.0,
                 horizon=1):
        import jax
        import optax

        self.lr = lr
        decay = final_factor ** (1.0 / max(1, horizon))
        self.moments = optax.scale_by_adam(b1, b2, eps)
        # the k-th update (k = 1, 2, ...) steps with lr * decay^k
        self.schedule = optax.scale_by_schedule(optax.exponential_decay(-decay, 1, decay))
        self._update = jax.jit(self._update_impl)

    def init(self, theta):
        import jax.numpy as jnp

        return {"theta": theta, "adam": self.moments.init(theta), "schedule": self.schedule.init(theta),
                "lr": jnp.asarray(self.lr, theta.dtype)}

    def point(self, state):
        return state["theta"]

    params = point

    def _update_impl(self, state, g, cost=None, cost_err=None, data=None):
        u, adam = self.moments.update(g, state["adam"], state["theta"])
        rate = -self.schedule.update(state["lr"], state["schedule"])[0]
        u, sched = self.schedule.update(u, state["schedule"])
        return ({"theta": state["theta"] + state["lr"] * u, "adam": adam, "schedule": sched, "lr": state["lr"]},
                {"step": rate})

    def update(self, state, g, cost=None, cost_err=None, data=None):
        return self._update(state, g, cost, cost_err, data)

    def rollback(self, state, good, factor=0.5):
        return dict(state, theta=good, adam=self.moments.init(good), lr=state["lr"] * factor)


# --- preconditioners -------------------------------------------------------------------------------
class SR:
    """theta -= lr (S + diag_shift 1)^-1 grad C, S = Re Cov_w(O*, O), O = d log rho / d theta; the step's
    norm is capped at max_norm."""

    name = "sr"

    def __init__(self, objective: Objective, lr=0.02, diag_shift=0.01, max_norm=1.0):
        import jax

        self.objective, self.lr, self.diag_shift, self.max_norm = objective, lr, diag_shift, max_norm
        self._update = jax.jit(self._update_impl)

    def init(self, theta):
        import jax.numpy as jnp

        return {"theta": theta, "lr": jnp.asarray(self.lr, theta.dtype)}

    def point(self, state):
        return state["theta"]

    params = point

    def _update_impl(self, state, g, cost, cost_err, data):
        import jax.numpy as jnp

        O, w = self.objective.log_derivatives(state["theta"], data)
        A, _, _ = tdvp.equation(O, jnp.zeros(O.shape[0], O.dtype), w.astype(g.dtype), xp=jnp)  # S = A^T A
        x, _ = linsolve.solve(g, A=A, method="shift", shift=self.diag_shift, report=False, xp=jnp)
        dx = state["lr"] * x
        norm = jnp.linalg.norm(dx)
        dx = dx * jnp.minimum(1.0, self.max_norm / norm)  # trust region: a noisy S can ask for huge steps
        return dict(state, theta=state["theta"] - dx), {"step": state["lr"], "step_norm": jnp.minimum(norm, self.max_norm)}

    def update(self, state, g, cost, cost_err, data):
        return self._update(state, g, cost, cost_err, data)

    def rollback(self, state, good, factor=0.5):
        return dict(state, theta=good, lr=state["lr"] * factor)


class GaussNewton:
    """Damped Gauss-Newton (Levenberg) on the least-squares form of the cost, C = sum_i w_i |e_i|^2
    (beyond the paper).

    The step solves (G + lam g 1) delta = -Re sum_i w_i K_i^dag e_i with the Gauss-Newton matrix
    G = Re sum_i w_i K_i^dag K_i and g = tr G / P: curvature-aware like SR, but the metric is
    that of the residual L rho rather than of rho, so slow modes of the Liouvillian are not slow here.
    The damping lam adapts: a step whose trial cost on the same samples (importance-reweighted) falls is
    accepted and lam shrinks; otherwise lam grows and the step is retried (at most max_tries times). The
    matrix, the solve and each trial cost are jitted calls on the device; the retries read their scalars.
    Fitting the step on one half of the samples and accepting it on the other converged worse
    (6-site TFI ring at g = 2: sx error 0.057 after 300 iterations vs 0.010 after 200)."""

    name = "gn"

    def __init__(self, objective: Objective, lam=1e-2, grow=4.0, shrink=0.5, lam_min=1e-2, lam_max=1e4,
                 max_tries=4, max_norm=1.0, min_ess=0.5):
        import jax

        self.objective = objective
        self.lam0, self.grow, self.shrink, self.lam_min, self.lam_max = lam, grow, shrink, lam_min, lam_max
        self.max_tries, self.max_norm, self.min_ess = max_tries, max_norm, min_ess
        self._normal, self._step = jax.jit(self._normal_impl), jax.jit(self._step_impl)

    def init(self, theta):
        import jax.numpy as jnp

        return {"theta": theta, "lam": jnp.asarray(self.lam0, theta.dtype)}

    def point(self, state):
        return state["theta"]

    params = point

    def _normal_impl(self, e, K, w):
        import jax.numpy as jnp

        sw = jnp.sqrt(w.astype(jnp.real(K).dtype))[:, None]
        A = jnp.concatenate([(sw * K).real, (sw * K).imag], axis=0)  # G = A^T A
        r = jnp.concatenate([(sw[:, 0] * e).real, (sw[:, 0] * e).imag])
        G = A.T @ A
        # isotropic damping: a large lam tends to a plain gradient step, which always descends (Marquardt's
        # diag(G) scaling amplified flat directions with a finite gradient and froze runs)
        return G, A.T @ r, jnp.trace(G) / G.shape[0] + 1e-12

    def _step_impl(self, G, b, shift):
        import jax.numpy as jnp

        delta, _ = linsolve.solve(-b, S=G, method="shift", shift=shift, report=False, xp=jnp)
        norm = jnp.linalg.norm(delta)
        return delta * jnp.minimum(1.0, self.max_norm / norm)

    def update(self, state, g, cost, cost_err, data):
        import jax
        import jax.numpy as jnp

        theta, cost_h = state["theta"], float(cost)
        e, K, w = self.objective.residuals(theta, data)
        # the normal equations in float64 whatever the network's precision: G = A^T A squares A's condition,
        # and in float32 the first step of the CNN already moved the cost by 5e-3 relative
        with jax.enable_x64(True):
            wide = jnp.complex128 if jnp.iscomplexobj(K) else jnp.float64
            G, b, scale = self._normal(e.astype(wide), K.astype(wide), w.astype(jnp.float64))
        lam, ok, tries = float(state["lam"]), False, 0
        delta = jnp.zeros_like(theta)
        for tries in range(1, self.max_tries + 1):
            with jax.enable_x64(True):
                delta = self._step(G, b, jnp.asarray(lam * float(scale), jnp.float64)).astype(theta.dtype)
            c_new, ess = (float(v) for v in self.objective.value(theta + delta, data))
            if np.isfinite(c_new) and ess >= self.min_ess and c_new < cost_h:
                ok = True
                break
            lam = min(lam * self.grow, self.lam_max)
        if ok:
            theta = theta + delta
            lam = max(lam * self.shrink, self.lam_min)
        return ({"theta": theta, "lam": jnp.asarray(lam, theta.dtype)},
                {"step": lam, "accepted": ok, "backtracks": tries - 1,
                 "step_norm": jnp.linalg.norm(delta) if ok else 0.0})

    def rollback(self, state, good, factor=0.5):
        import jax.numpy as jnp

        return {"theta": good, "lam": jnp.minimum(state["lam"] / factor, self.lam_max)}


class Warmup:
    """`first` (Adam) for `n_first` updates, then `then` (Gauss-Newton) from where it got to (method key
    gn_warmup). Meant for systems where the Gauss-Newton step stalls far from the solution; on the 3x3
    lattice (Jy = 1.0 and 1.8, 100 Adam + 50 GN iterations) it did not help, so no config uses it."""

    name = "warmup"

    def __init__(self, first, then, n_first):
        self.first, self.then, self.n_first = first, then, n_first

    def init(self, theta):
        import jax.numpy as jnp

        return {"n": jnp.zeros((), jnp.int32), "a": self.first.init(theta), "b": self.then.init(theta)}

    def _active(self, state):
        return (self.first, "a") if int(state["n"]) < self.n_first else (self.then, "b")

    def point(self, state):
        opt, k = self._active(state)
        return opt.point(state[k])

    def params(self, state):
        opt, k = self._active(state)
        return opt.params(state[k])

    def update(self, state, g, cost, cost_err, data):
        opt, k = self._active(state)
        sub, info = opt.update(state[k], g, cost, cost_err, data)
        state = dict(state, **{k: sub}, n=state["n"] + 1)
        if int(state["n"]) == self.n_first:
            state["b"] = self.then.init(self.first.params(state["a"]))
        return state, info

    def rollback(self, state, good, factor=0.5):
        opt, k = self._active(state)
        return dict(state, **{k: opt.rollback(state[k], good, factor)})


# --- checkpoints -----------------------------------------------------------------------------------
def _name(prefix, path) -> str:
    return "/".join([prefix] + [str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path])


def to_arrays(state, prefix: str = "opt") -> dict:
    """The optimiser state as named host arrays (for a checkpoint)."""
    import jax
    import numpy as np

    return {_name(prefix, p): np.asarray(v) for p, v in jax.tree_util.tree_flatten_with_path(state)[0]}


def from_arrays(template, arrays: dict, prefix: str = "opt"):
    """The state `to_arrays` wrote, in the structure (and dtypes) of `template`, back on the device."""
    import jax
    import jax.numpy as jnp

    leaves, tree = jax.tree_util.tree_flatten_with_path(template)
    out = []
    for p, v in leaves:
        name = _name(prefix, p)
        if name not in arrays:
            raise KeyError(name)
        out.append(jnp.asarray(arrays[name], dtype=jnp.asarray(v).dtype))
    return jax.tree_util.tree_unflatten(tree, out)


def make_optimizer(name: str, objective: Objective, params: dict):
    if name == "adam":
        return Adam(objective, lr=params["lr"], final_factor=params["lr_final_factor"], horizon=params["iterations"])
    if name == "nagd":
        return NAGD(objective, lr=params["lr"], shrink=params["nagd_shrink"], grow=params["nagd_grow"],
                    max_backtrack=params["nagd_max_backtrack"])
    if name == "sr":
        return SR(objective, lr=params["lr"], diag_shift=params["diag_shift"])
    if name == "gn":
        gn = GaussNewton(objective, lam=params["gn_damping"], lam_min=params["gn_damping_min"])
        if params["gn_warmup"] > 0:
            return Warmup(Adam(objective, lr=params["lr"]), gn, params["gn_warmup"])
        return gn
    raise ValueError(f"unknown optimizer {name!r}")
