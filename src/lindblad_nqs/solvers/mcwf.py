"""Method `mcwf`: quantum trajectories (QuTiP's mcsolve) for lattices too large for rho.

Observables are trajectory averages with their standard error; connected correlators take the
product of the averaged one-point functions, whose error is propagated to first order.
"""

from __future__ import annotations

import numpy as np

from ..methods import Result, RunContext, register
from ..spec import RunSpec


@register("mcwf", {"ntraj": 500}, tasks=("dynamics",))
def solve(spec: RunSpec, ctx: RunContext) -> Result:
    from ..exact.dynamics import trajectories

    keys: dict[tuple, int] = {}
    for o in spec.observables:
        for term in o.sites:
            keys.setdefault(tuple((s, o.pauli) for s in term), len(keys))
            if o.connected:
                for s in term:
                    keys.setdefault(((s, o.pauli),), len(keys))
    strings = [dict(k) for k in keys]
    times = spec.task.save_times
    mean, _, runs, ntraj = trajectories(spec.system, spec.task.initial, times, strings,
                                        spec.params["ntraj"], spec.seed, ctx.threads)
    rows = []
    for o in spec.observables:
        # per-trajectory estimator of the observable, so its stderr includes all covariances
        per_traj = np.zeros(runs.shape[1:])
        for term in o.sites:
            per_traj += runs[keys[tuple((s, o.pauli) for s in term)]]
            if o.connected:
                a, b = (keys[((s, o.pauli),)] for s in term)
                # linearised <A><B>: <A> B_r + A_r <B> - <A><B> has mean <A><B> and the right first-order error
                per_traj -= mean[a] * runs[b] + runs[a] * mean[b] - mean[a] * mean[b]
        per_traj /= len(o.sites)
        value = per_traj.mean(axis=0)
        err = per_traj.std(axis=0, ddof=1) / np.sqrt(ntraj) if ntraj > 1 else np.zeros_like(value)
        rows += [(float(t), o.name, float(v), float(e)) for t, v, e in zip(times, value, err)]
    return Result(rows, {"ntraj": int(ntraj)})
