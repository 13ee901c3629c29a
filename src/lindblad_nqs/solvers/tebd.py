"""Method `tebd`: unitary dynamics of a pure product state on a chain by an MPS time evolution
(TeNPy's TEBD with Suzuki-Trotter steps of `task.dt`).

Reference for reh2021 Fig. 3 (b, bottom): the confinement chain at gamma = 0, at sizes no state vector
reaches. Only Hamiltonian dynamics: a system with any jump at a non-zero rate is refused (an MPS of
a pure state cannot hold a mixed rho).

Geometry: an open chain is a finite MPS of its N sites. A periodic chain cannot be a finite TEBD
(its closing bond is not nearest-neighbour along the MPS), so `geometry: auto` evolves it as an
infinite MPS (iTEBD, two-site unit cell): the translation-invariant state of the infinite chain,
which equals the N-site ring's until correlations reach across half the ring (the light cone),
and the lattice's N then only bounds the distances that observables may ask for.

Truncation: singular values below `svd_min` and beyond `chi_max` are discarded; the summed discarded
weight (TeNPy's TruncationError.eps, an upper bound on 1 - |<psi_exact|psi>|^2 to first order) and the
overlap estimate go into the provenance; the history has, per save time, the cumulative truncation
error, the largest bond dimension and the largest bond entanglement entropy.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ..methods import Key, Result, RunContext, register
from ..observables import evaluate
from ..spec import RunSpec, SpecError

KEYS = {
    "chi_max": Key(128, int, "largest MPS bond dimension", minimum=1),
    "svd_min": Key(1e-10, float, "singular values below this are discarded", minimum=0.0),
    "order": Key(2, int, "Suzuki-Trotter order of a step of task.dt", choices=(1, 2, 4)),
    "geometry": Key("auto", str, "finite (open chains), infinite (iTEBD: a periodic chain as the infinite "
                    "chain), auto: finite when open, infinite when periodic",
                    choices=("auto", "finite", "infinite")),
}

_OPS = {"x": "Sigmax", "y": "Sigmay", "z": "Sigmaz"}


def _geometry(spec: RunSpec) -> str:
    g = spec.params["geometry"]
    periodic = spec.system.lattice.periodic
    if g == "auto":
        return "infinite" if periodic else "finite"
    if g == "finite" and periodic:
        raise SpecError("method.geometry finite needs an open chain (a ring's closing bond is not "
                        "nearest-neighbour along the MPS): use geometry infinite or boundary open")
    if g == "infinite" and not periodic:
        raise SpecError("method.geometry infinite describes a translation-invariant chain: use boundary "
                        "periodic or geometry finite")
    return g


def check_spec(spec: RunSpec) -> None:
    system = spec.system
    if system.lattice.dim != 1:
        raise SpecError(f"method tebd handles chains (lattice shape [N]), got {list(system.lattice.shape)}")
    lossy = [f"{j.op} at rate {j.rate:g}" for j in system.jumps if j.rate != 0.0]
    if lossy:
        raise SpecError(f"method tebd evolves pure states under H alone, but the system is dissipative "
                        f"({', '.join(lossy)}): use method exact, mcwf or a neural method, or rate 0")
    if spec.task.kind != "dynamics":
        raise SpecError("method tebd solves task.kind dynamics only")
    if system.n_sites < 2:
        raise SpecError("method tebd needs a chain of at least 2 sites")
    if spec.task.initial not in ("x+", "x-", "y+", "y-", "z+", "z-"):
        raise SpecError(f"method tebd starts from a product state, got {spec.task.initial!r}")
    _geometry(spec)


def _model(system, geometry: str):
    from tenpy.models.model import CouplingMPOModel, NearestNeighborModel
    from tenpy.networks.site import SpinHalfSite

    class _Chain(CouplingMPOModel, NearestNeighborModel):
        # TeNPy's Sigma operators are the Pauli matrices in the basis (up, down) with Z|up> = +|up>,
        # the project's convention, so the couplings carry over unchanged
        def init_sites(self, params):
            return SpinHalfSite(conserve=None)

        def init_terms(self, params):
            for a, c in system.bond_terms():
                self.add_coupling(c, 0, _OPS[a], 0, _OPS[a], 1)
            for a, c in system.field_terms():
                self.add_onsite(c, 0, _OPS[a])

    n = system.n_sites
    params = {"lattice": "Chain", "L": n if geometry == "finite" else 2,
              "bc_MPS": geometry, "bc_x": "open" if geometry == "finite" else "periodic"}
    return _Chain(params)


def _site_map(geometry: str, n: int):
    """Maps a site pair of the N-site lattice onto the MPS: unchanged for a finite chain; for the infinite
    chain, the first site into the unit cell and the second at the ring distance to its right."""
    if geometry == "finite":
        return lambda i, j=None: (i, j)

    def infinite(i, j=None):
        if j is None:
            return i % 2, None
        d = min((j - i) % n, (i - j) % n)
        return i % 2, i % 2 + d

    return infinite


def _expect_fn(psi, geometry: str, n: int, observables):
    """expect({site: pauli}) for the one- and two-site strings of `observables`, each Pauli pair's
    correlations computed in one TeNPy call (one call per pair of sites costs a contraction each)."""
    place = _site_map(geometry, n)
    one = {a: np.real(psi.expectation_value(op)) for a, op in _OPS.items()}
    wanted: dict[str, set] = {}
    for o in observables:
        for term in o.sites:
            if len(term) == 2:
                i2, j2 = place(*term)
                wanted.setdefault(o.pauli, set()).update((i2, j2))
    corr = {}
    for a, sites in wanted.items():
        s = sorted(sites)
        c = np.real(psi.correlation_function(_OPS[a], _OPS[a], s, s))
        corr[a] = {(i, j): c[x, y] for x, i in enumerate(s) for y, j in enumerate(s)}

    def expect(string: dict[int, str]) -> float:
        items = sorted(string.items())
        if len(items) == 1:
            (i, a), = items
            return float(one[a][place(i)[0]])
        (i, a), (j, b) = items
        if a != b:
            raise ValueError("method tebd: two-site strings of one Pauli only")
        return float(corr[a][place(i, j)])

    return expect


@register("tebd", KEYS, tasks=("dynamics",), uses_gpu=False)
def solve(spec: RunSpec, ctx: RunContext) -> Result:
    import warnings

    from tenpy.algorithms.tebd import TEBDEngine
    from tenpy.networks.mps import MPS

    from ..model.operators import PRODUCT_STATES

    import tenpy

    check_spec(spec)
    geometry = _geometry(spec)
    p, task, system = spec.params, spec.task, spec.system
    n = system.n_sites
    with warnings.catch_warnings():
        # TeNPy warns about its own deprecated internals on every model; they say nothing about the run
        warnings.simplefilter("ignore", FutureWarning)
        model = _model(system, geometry)
    sites = model.lat.mps_sites()
    # complex from the start: TeNPy's default float64 would drop the imaginary part of y+- silently
    psi = MPS.from_product_state(sites, [PRODUCT_STATES[task.initial]] * len(sites), bc=geometry,
                                 dtype=complex, unit_cell_width=1)
    times = task.save_times
    steps_per_save = int(round(task.save_every / task.dt))
    engine = TEBDEngine(psi, model, {"dt": task.dt, "N_steps": steps_per_save, "order": p["order"],
                                     "trunc_params": {"chi_max": p["chi_max"], "svd_min": p["svd_min"]}})
    rows, hist = [], []
    t_wall = time.perf_counter()

    def record(t):
        expect = _expect_fn(psi, geometry, n, spec.observables)
        for o in spec.observables:
            rows.append((float(t), o.name, evaluate(o, expect), 0.0))
        hist.append({"t": float(t), "trunc_err": float(engine.trunc_err.eps), "overlap": float(engine.trunc_err.ov),
                     "chi": int(max(psi.chi)) if len(psi.chi) else 1,
                     "entropy": float(np.max(psi.entanglement_entropy())) if len(psi.chi) else 0.0,
                     "wall_s": time.perf_counter() - t_wall})

    record(times[0])
    for t in times[1:]:
        engine.run()
        record(t)
    h = pd.DataFrame(hist)
    info = {"geometry": geometry, "trotter_order": int(p["order"]), "chi_max": int(p["chi_max"]),
            "svd_min": float(p["svd_min"]), "truncation_error": float(engine.trunc_err.eps),
            "truncation_overlap": float(engine.trunc_err.ov), "chi_reached": int(h["chi"].max()),
            "max_entropy": float(h["entropy"].max()), "evolved_time": float(engine.evolved_time),
            "library": f"physics-tenpy {tenpy.__version__}"}
    if geometry == "infinite":
        info["note"] = (f"infinite chain (iTEBD); equals the {n}-site ring until correlations span half of it")
    return Result(rows, info, h)
