"""Explicit integrators of theta_dot = f(theta, t) for the TDVPs, and the loop that hits save times.

f(theta, t, report) is called once per stage (a TDVP solver samples once per call, continuing its
Markov chains), and returns (theta_dot, metric, diag): `metric(v)` is the norm of a parameter change v in
the TDVP metric S (|A v| with S = A^T A), in which the adaptive step's error is measured, so that a
parameter the state barely depends on does not dictate the step. Only a step's first stage keeps its
diag: the others are called with report=False and may skip what only the diagnostics need (the
shift-regularised solve's spectrum of S, an eigendecomposition per stage otherwise). An f(theta, t)
without the argument is called as before.

  RK4    classical fourth order, fixed step
  Heun   adaptive second order (the Heun-Euler pair): err = dt/2 |k2 - k1|_S; accepted when err <= tol,
         and the next step dt * clip(0.9 sqrt(tol / err), 0.2, 2) within [dt_min, dt_max]

`evolve` shortens the last step before every save time so that each is hit exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import inspect

import numpy as np


@dataclass
class StepResult:
    theta: object
    dt: float  # the step taken
    dt_next: float  # the step proposed for next time
    error: float  # NaN for fixed-step methods
    rejected: int  # rejected attempts before this step
    diag: dict = field(default_factory=dict)  # the first stage's diagnostics


def with_report(f: Callable) -> Callable:
    """f as f(theta, t, report): an f(theta, t) that has no report argument ignores it."""
    try:
        params = inspect.signature(f).parameters
    except (TypeError, ValueError):
        return f
    if "report" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return f
    return lambda theta, t, report=True: f(theta, t)


def rk4(f: Callable, theta, t: float, dt: float, **_) -> StepResult:
    f = with_report(f)
    k1, _, d1 = f(theta, t, report=True)
    k2, _, _ = f(theta + 0.5 * dt * k1, t + 0.5 * dt, report=False)
    k3, _, _ = f(theta + 0.5 * dt * k2, t + 0.5 * dt, report=False)
    k4, _, _ = f(theta + dt * k3, t + dt, report=False)
    return StepResult(theta + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4), dt, dt, float("nan"), 0, d1)


def heun(f: Callable, theta, t: float, dt: float, *, tol: float, dt_min: float, dt_max: float,
         first=None) -> StepResult:
    f = with_report(f)
    k1, metric, d1 = f(theta, t, report=True) if first is None else first
    rejected = 0
    while True:
        k2, _, _ = f(theta + dt * k1, t + dt, report=False)
        err = float(0.5 * dt * metric(k2 - k1))
        ok = err <= tol or dt <= dt_min * (1 + 1e-12)
        factor = 2.0 if err == 0 else min(2.0, max(0.2, 0.9 * np.sqrt(tol / err)))
        if ok:
            return StepResult(theta + 0.5 * dt * (k1 + k2), dt, min(dt_max, max(dt_min, dt * factor)), err,
                              rejected, d1)
        if not np.isfinite(err):
            raise FloatingPointError(f"the adaptive step's error is not finite at t = {t:.6g}")
        rejected += 1
        dt = max(dt_min, dt * factor)


INTEGRATORS = {"rk4": rk4, "heun": heun}


def evolve(f: Callable, theta, t0: float, save_times, dt: float, *, integrator: str = "rk4", tol: float = 1e-3,
           dt_min: float = 1e-8, dt_max: float | None = None, on_step: Callable | None = None,
           on_save: Callable | None = None):
    """Integrate from t0 through every save time > t0 (ascending). on_step(t, StepResult) after each
    step; on_save(t, theta, dt_next) at each save time. Returns (theta, dt_next)."""
    step = INTEGRATORS[integrator]
    f = with_report(f)
    dt_max = dt_max or float(np.max(np.diff(np.concatenate([[t0], save_times]))))
    t = float(t0)
    for ts in save_times:
        ts = float(ts)
        if ts <= t + 1e-12 * max(1.0, abs(ts)):
            continue
        while t < ts - 1e-12 * max(1.0, abs(ts)):
            h = min(dt, ts - t)
            if integrator == "rk4":
                res = step(f, theta, t, h)
            else:
                res = step(f, theta, t, h, tol=tol, dt_min=min(dt_min, h), dt_max=dt_max)
            theta = res.theta
            t = ts if abs(ts - (t + res.dt)) <= 1e-12 * max(1.0, abs(ts)) else t + res.dt
            shortened = h < dt and res.dt == h  # cut to hit the save time: keeps the proposal it had
            if integrator != "rk4" and not shortened:
                dt = res.dt_next
            if on_step is not None:
                on_step(t, res)
        if on_save is not None:
            on_save(t, theta, dt)
    return theta, dt
