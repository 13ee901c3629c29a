"""Method `mcwf`: quantum trajectories (QuTiP's mcsolve) for lattices too large for rho.

Observables are trajectory averages with their standard error; connected correlators take the
product of the averaged one-point functions, whose error is propagated to first order.
"""

from __future__ import annotations

import numpy as np

from ..methods import Key, Result, RunContext, register
from ..spec import RunSpec


# Peak memory per process, measured on periodic chains of 10-16 sites (QuTiP's mcsolve): about 250 state
# vectors of 2^N amplitudes at 16 sites, from the Hamiltonian, the collapse operators, the ODE solver and
# the cached Pauli-string actions; modelled with a margin as below, plus the interpreter and libraries.
VECTORS_FIXED = 100
VECTORS_PER_ENTRY = 3
BYTES_PER_PROCESS = 300 * 2**20


def _keys(observables) -> dict[tuple, int]:
    """Every Pauli string the observables need, numbered."""
    keys: dict[tuple, int] = {}
    for o in observables:
        for term in o.sites:
            keys.setdefault(tuple((s, o.pauli) for s in term), len(keys))
            if o.connected:
                for s in term:
                    keys.setdefault(((s, o.pauli),), len(keys))
    return keys


def estimated_bytes(spec: RunSpec, threads: int = 1) -> float:
    system = spec.system
    n = system.n_sites
    # non-zeros per row: the diagonal, one flip per bond with an XX or YY coupling, one per site with hx or hy
    h_row = 1 + len(system.lattice.bonds) * bool(system.J[0] or system.J[1]) + n * bool(system.h[0] or system.h[1])
    jumps = sum(1 for j in system.jumps if j.rate != 0.0)
    strings = len(_keys(spec.observables))
    per_process = BYTES_PER_PROCESS + 2**n * 16 * (VECTORS_FIXED + VECTORS_PER_ENTRY * (h_row + n * jumps + strings))
    runs = spec.params["ntraj"] * strings * len(spec.task.save_times) * 8 * 3
    return max(1, threads) * per_process + runs


def check_resources(spec: RunSpec, threads: int = 1) -> None:
    from ..checks import require_memory

    require_memory(estimated_bytes(spec, threads), f"method mcwf on {spec.system.n_sites} sites with {threads} "
                   f"process(es)", "use a smaller lattice, fewer --threads, or fewer method.ntraj")


KEYS = {"ntraj": Key(500, int, "number of quantum trajectories (the stderr falls as 1/sqrt(ntraj))", minimum=1)}


@register("mcwf", KEYS, tasks=("dynamics",), uses_gpu=False)
def solve(spec: RunSpec, ctx: RunContext) -> Result:
    from ..exact.dynamics import trajectories

    check_resources(spec, ctx.threads)
    keys = _keys(spec.observables)
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
