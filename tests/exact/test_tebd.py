"""Method tebd: MPS dynamics against exact state-vector dynamics, and its refusals."""

from __future__ import annotations

import pytest

from lindblad_nqs.exact.pure import state_vector_dynamics
from lindblad_nqs.methods import RunContext, get_method
from lindblad_nqs.spec import SpecError, parse_spec

pytest.importorskip("tenpy")


def _spec(shape, boundary, system, initial, t_final, dt, save_every, observables, method=None):
    return parse_spec({
        "system": {"lattice": {"shape": shape, "boundary": boundary}, **system},
        "task": {"kind": "dynamics", "t_final": t_final, "dt": dt, "save_every": save_every,
                 "initial": {"product": initial}},
        "method": {"name": "tebd", **(method or {})},
        "observables": observables,
        "seed": 0,
    })


def _solve(spec, tmp_path):
    return get_method("tebd").solve(spec, RunContext(state_dir=tmp_path / "state"))


OBS = ["sx", "sy", "sz", "szsz_c:1", "szsz_c:2", "sxsx_c:3", "sysy:1", "sxsx:1,4"]


def test_open_chain_matches_state_vector(tmp_path):
    # the confinement Hamiltonian plus an XY coupling and a y field, from y- (complex amplitudes),
    # so every Pauli, the Trotter splitting of non-commuting bond and site terms, and truncation matter
    system = {"couplings": {"Jx": 0.3, "Jy": -0.2, "Jz": 1.0}, "field": {"hx": 0.25, "hy": 0.1, "hz": 0.05}}
    spec = _spec([8], "open", system, "y-", 2.0, 0.01, 0.25, OBS, {"order": 2, "chi_max": 64})
    res = _solve(spec, tmp_path)
    ref = state_vector_dynamics(spec)
    dev = max(abs(v - ref[(round(t, 9), o)]) for t, o, v, _ in res.rows)
    assert dev < 2e-4, dev
    assert res.info["geometry"] == "finite"
    assert res.info["truncation_error"] < 1e-8
    assert list(res.history["t"]) == pytest.approx(list(spec.task.save_times))


def test_truncation_error_reported_when_chi_is_small(tmp_path):
    spec = _spec([8], "open", {"preset": {"name": "confinement", "dephasing": 0.0, "hx": 1.0}}, "z+",
                 3.0, 0.05, 0.5, ["sz", "szsz_c:1"], {"chi_max": 2})
    res = _solve(spec, tmp_path)
    ref = state_vector_dynamics(spec)
    dev = max(abs(v - ref[(round(t, 9), o)]) for t, o, v, _ in res.rows)
    assert res.info["chi_reached"] == 2
    assert res.info["truncation_error"] > 1e-4  # the discarded weight is reported, not hidden
    assert dev > 1e-3  # and it is a real error


def test_periodic_ring_as_infinite_chain_before_the_light_cone(tmp_path):
    # a 10-site ring equals the infinite chain until correlations cross half of it
    system = {"preset": {"name": "confinement", "Jz": 1.0, "hx": 0.25, "hz": 0.05, "dephasing": 0.0}}
    obs = ["sx", "sz", "szsz_c:1", "szsz_c:2", "szsz_c:4"]
    spec = _spec([10], "periodic", system, "z+", 1.5, 0.01, 0.25, obs)
    res = _solve(spec, tmp_path)
    ref = state_vector_dynamics(spec)
    dev = max(abs(v - ref[(round(t, 9), o)]) for t, o, v, _ in res.rows)
    assert res.info["geometry"] == "infinite"
    assert dev < 5e-4, dev


def test_refuses_a_dissipative_system():
    system = {"preset": {"name": "confinement", "dephasing": 0.25}}
    with pytest.raises(SpecError, match="dissipative.*sigma_z at rate 0.25"):
        _spec([8], "periodic", system, "z+", 1.0, 0.05, 0.5, ["sz"])


def test_refuses_square_lattices_and_finite_rings():
    with pytest.raises(SpecError, match="chains"):
        _spec([2, 2], "periodic", {"couplings": {"Jz": 1.0}}, "z+", 1.0, 0.05, 0.5, ["sz"])
    with pytest.raises(SpecError, match="geometry finite needs an open chain"):
        _spec([8], "periodic", {"couplings": {"Jz": 1.0}}, "z+", 1.0, 0.05, 0.5, ["sz"], {"geometry": "finite"})


def test_cli_refuses_dissipative_spec_without_output(tmp_path):
    import subprocess
    import sys

    spec = tmp_path / "s.yaml"
    spec.write_text("system:\n  lattice: {shape: [6], boundary: open}\n"
                    "  preset: {name: confinement, dephasing: 0.25}\n"
                    "task: {kind: dynamics, t_final: 1.0, dt: 0.05, save_every: 0.5, initial: {product: z+}}\n"
                    "method: {name: tebd}\nobservables: [sz]\nseed: 0\n")
    out = tmp_path / "r.csv"
    p = subprocess.run([sys.executable, "-m", "lindblad_nqs", "solve", str(spec), "--out", str(out)],
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert "dissipative" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not out.exists()
