"""Method `exact`: the steady state or the dynamics of the full density matrix.

solver: sector  - symmetry-reduced sparse solve / matrix exponential (fast; the default)
        qutip   - QuTiP's steadystate / mesolve (slow; for cross-checks)
save_rho: write the density matrix (steady) or the density matrices at the saved times (dynamics)
          to STATE_DIR/rho.npz for figures that show matrix elements or eigenvalues.
"""

from __future__ import annotations

import numpy as np

from ..methods import Result, RunContext, register
from ..observables import evaluate
from ..spec import RunSpec, SpecError


@register("exact", {"solver": "sector", "save_rho": False})
def solve(spec: RunSpec, ctx: RunContext) -> Result:
    from ..exact import dynamics, steady
    from ..exact.sector import MAX_SITES

    n = spec.system.n_sites
    if n > MAX_SITES:
        raise SpecError(f"method exact handles at most {MAX_SITES} sites, this lattice has {n}: use method mcwf")
    solver = spec.params["solver"]
    if solver not in ("sector", "qutip"):
        raise SpecError(f"method.solver must be sector or qutip, got {solver!r}")
    rows, info, saved = [], {"solver": solver}, {}
    if spec.task.kind == "steady":
        ss = steady.solve_sector(spec.system) if solver == "sector" else steady.solve_qutip(spec.system)
        expect = dynamics.dense_expect(ss.rho, n)
        rows = [(None, o.name, evaluate(o, expect), 0.0) for o in spec.observables]
        info |= {"residual_norm": ss.residual, "relative_residual": ss.relative_residual, "sector_dim": ss.sector_dim}
        saved = {"rho": ss.rho}
    else:
        times = spec.task.save_times
        evolve = dynamics.evolve_sector if solver == "sector" else dynamics.evolve_mesolve
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
