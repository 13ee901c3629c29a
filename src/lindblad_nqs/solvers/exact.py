"""Method `exact`: the steady state or the dynamics of the full density matrix.

The keys are in KEYS (`lindblad-nqs methods exact`); save_rho serves figures that show matrix elements
or eigenvalues.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ..methods import Key, Result, RunContext, register
from ..observables import evaluate
from ..spec import RunSpec, SpecError


def check_spec(spec: RunSpec) -> None:
    from ..exact.sector import MAX_SITES

    n = spec.system.n_sites
    if n > MAX_SITES:
        raise SpecError(f"method exact handles at most {MAX_SITES} sites, this lattice has {n}: use method mcwf")
    if spec.task.kind == "steady":
        from ..exact.steady import _not_unique, conserved_quantity

        reason = conserved_quantity(spec.system)
        if reason:
            raise SpecError(str(_not_unique(reason)))
    if spec.params["integrator"] == "trapezoid" and (spec.task.kind != "dynamics" or spec.params["solver"] != "sector"):
        raise SpecError("method.integrator: trapezoid is for dynamics tasks with solver sector")


def estimated_bytes(spec: RunSpec) -> float:
    """Peak memory of the run, estimated from the sizes alone (see exact.sector)."""
    from ..exact.sector import build_bytes, estimated_dim
    from ..exact.steady import steady_bytes

    system, solver = spec.system, spec.params["solver"]
    if spec.task.kind == "steady":
        return steady_bytes(system, solver)
    full = 4**system.n_sites  # elements of rho
    n_times = len(spec.task.save_times)
    dim = full if solver == "qutip" else estimated_dim(system)
    kept = n_times * full * 16 * (2 if spec.params["save_rho"] else 0)  # the list and its array
    states = n_times * (full if solver == "qutip" else dim) * 16  # expm_multiply's or mesolve's saved states
    return build_bytes(system, dim) + states + kept + 48 * full


def check_resources(spec: RunSpec, threads: int = 1) -> None:
    from ..checks import require_memory

    n = spec.system.n_sites
    require_memory(estimated_bytes(spec), f"method exact on {n} sites ({spec.task.kind}, solver "
                   f"{spec.params['solver']})", "use method mcwf, a smaller lattice, or more symmetry "
                   "(a periodic boundary)" + (", or save_rho: false" if spec.params["save_rho"] else ""))


KEYS = {
    "solver": Key("sector", str, "sector: symmetry-reduced dense LU or iterative solve / matrix exponential (fast); "
                  "qutip: QuTiP's steadystate / mesolve (slow; for cross-checks)", choices=("sector", "qutip")),
    "integrator": Key("expm", str, "dynamics: expm (the exact propagator) or trapezoid (Crank-Nicolson steps of "
                      "task.dt, tau = dt / 2: the time-step error of luo2022's trapezoid without a network; "
                      "solver sector only)", choices=("expm", "trapezoid")),
    "save_rho": Key(False, bool, "write rho (steady) or rho at the saved times (dynamics) to STATE_DIR/rho.npz"),
}


@register("exact", KEYS, uses_gpu=False)
def solve(spec: RunSpec, ctx: RunContext) -> Result:
    from ..exact import dynamics, steady

    check_spec(spec)
    check_resources(spec, ctx.threads)
    n = spec.system.n_sites
    solver = spec.params["solver"]
    rows, info, saved = [], {"solver": solver}, {}
    if spec.task.kind == "steady":
        ss = steady.solve_sector(spec.system) if solver == "sector" else steady.solve_qutip(spec.system)
        expect = dynamics.dense_expect(ss.rho, n)
        rows = [(None, o.name, evaluate(o, expect), 0.0) for o in spec.observables]
        info |= {"residual_norm": ss.residual, "relative_residual": ss.relative_residual, "sector_dim": ss.sector_dim,
                 **ss.info}
        saved = {"rho": ss.rho}
    else:
        times = spec.task.save_times
        if spec.params["integrator"] == "trapezoid":
            evolve = partial(dynamics.evolve_trapezoid, dt=spec.task.dt)
        else:
            evolve = dynamics.evolve_sector if solver == "sector" else dynamics.evolve_mesolve
        info["integrator"] = spec.params["integrator"]
        rhos = []
        for t, rho in evolve(spec.system, spec.task.initial, times):
            expect = dynamics.dense_expect(rho, n)
            rows += [(t, o.name, evaluate(o, expect), 0.0) for o in spec.observables]
            if spec.params["save_rho"]:
                rhos.append(rho)
        saved = {"t": times, "rho": np.array(rhos)}
    if spec.params["save_rho"]:
        ctx.state_dir.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(ctx.state_dir / "rho.npz", **saved)
        info["rho_file"] = str(ctx.state_dir / "rho.npz")
    return Result(rows, info)
