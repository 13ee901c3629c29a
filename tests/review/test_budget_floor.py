"""The fit-to-exact floor (lindblad_nqs.floor) and the error-vs-budget figure (lindblad-nqs budget).

The floor of a network that can represent the exact steady state goes to zero; that of a network that
cannot stays above it; the figure's numbers are the runs' result tables, histories and floors."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import solve_point  # noqa: E402  (tests/conftest.py, shared helpers)
from lindblad_nqs.cli import main
from lindblad_nqs.floor import fit_floor
from lindblad_nqs.spec import parse_spec

# two spins, Ising coupling, transverse field and decay: a mixed steady state of full rank
TWO = {"lattice": {"shape": [2], "boundary": "periodic"}, "couplings": {"Jz": 0.5}, "field": {"hx": 0.5},
       "jumps": [{"op": "sigma_minus", "rate": 1.0}]}
# the TFI ring at g = 0: the product state of all spins down
PRODUCT = {"lattice": {"shape": [3], "boundary": "periodic"}, "preset": {"name": "tfi", "V": 2.0, "g": 0.0}}
RING4 = {"lattice": {"shape": [4], "boundary": "periodic"}, "preset": {"name": "tfi", "V": 2.0, "g": 2.0}}
OBS = ["sx", "sy", "sz", "szsz:1"]


def _spec(system, method):
    return {"system": system, "task": {"kind": "steady"}, "method": method, "observables": OBS, "seed": 0}


def _qutip_values(system):
    """The steady state from QuTiP's own solver: independent of the floor's exact rho."""
    import qutip

    from lindblad_nqs.exact.dynamics import dense_expect
    from lindblad_nqs.exact.qutip_model import collapse_operators, hamiltonian
    from lindblad_nqs.observables import evaluate

    spec = parse_spec(_spec(system, {"name": "exact"}))
    rho = qutip.steadystate(hamiltonian(spec.system), collapse_operators(spec.system)).full()
    e = dense_expect(rho, spec.system.n_sites)
    return {o.name: float(np.real(evaluate(o, e))) for o in spec.observables}


@pytest.mark.parametrize("system, method, tol", [
    (TWO, {"name": "rbm_ndo", "alpha": 4, "ancilla": 4}, 2e-3),  # 16 hidden, 8 ancilla units on 2 spins
    (PRODUCT, {"name": "cnn", "features": [2], "kernels": [1]}, 1e-2),  # exp(-c * number of up spins)
    (TWO, {"name": "transformer", "n_layers": 1, "d_model": 16, "n_heads": 2, "dtype": "float64"}, 1e-2),
], ids=["rbm_ndo-2-spins", "cnn-product", "transformer-2-sites"])
def test_floor_of_a_network_that_represents_the_state_is_near_zero(system, method, tol):
    table, info = fit_floor(parse_spec(_spec(system, method)), steps=2000, lr=0.01)
    ref = _qutip_values(system)
    assert np.allclose(table.set_index("observable")["exact"][list(ref)], list(ref.values()), atol=1e-8)
    assert info["max_abs_error"] < tol, table
    assert info["loss"] < 1e-4 and info["trace_distance"] < 1e-2
    assert np.isclose(info["max_abs_error"], np.max(np.abs(table["fit"] - table["exact"])))


def test_floor_of_a_network_too_small_for_the_state_is_not_zero():
    """One hidden and one ancilla unit per site on the 4-site ring at g = 2: the fit stalls at an
    infidelity of several 1e-3 and misses the observables by more than the representable cases' 1e-2."""
    table, info = fit_floor(parse_spec(_spec(RING4, {"name": "rbm_ndo", "alpha": 1, "ancilla": 1})), steps=500, lr=0.02)
    assert info["loss"] > 1e-3 and info["max_abs_error"] > 1e-2 and info["trace_distance"] > 1e-2, (info, table)


def test_floor_refuses_what_it_cannot_fit(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    out = tmp_path / "floor.csv"
    for method, words in [({"name": "exact"}, "no fit-to-exact floor for method exact"),
                          ({"name": "cnn", "features": [2], "kernels": [1]}, "over the limit 16")]:
        spec.write_text(yaml.safe_dump(_spec(PRODUCT, method)))
        assert main(["floor", str(spec), "--out", str(out), "--max-configs", "16"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err
        assert not out.exists() and not out.with_suffix(".json").exists()


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    """An exact reference and two networks on the same 2-spin system, laid out as the pipeline does, with
    their floors."""
    root = tmp_path_factory.mktemp("budget")
    files = [solve_point(root, "two_exact", "base", _spec(TWO, {"name": "exact"}))]
    files.append(solve_point(root, "two_transformer", "base", _spec(TWO, {
        "name": "transformer", "iterations": 125, "samples": 64, "eval_samples": 256, "n_layers": 1, "d_model": 8,
        "n_heads": 2, "d_ff": 8, "device": "cpu"})))
    files.append(solve_point(root, "two_rbm", "base", _spec(TWO, {
        "name": "rbm_ndo", "alpha": 1, "ancilla": 1, "optimizer": "gn", "iterations": 6, "n_samples": 128,
        "n_chains": 8, "n_discard": 4, "obs_samples": 512, "obs_chains": 8, "track_every": 2, "track_samples": 128})))
    floors = []
    for run in ("two_transformer", "two_rbm"):
        out = root / "results" / "review" / "floors" / run / "base.csv"
        assert main(["floor", str(root / "results" / "runs" / run / "base" / "spec.yaml"), "--out", str(out),
                     "--steps", "30"]) == 0
        floors.append(out)
    refs = root / "cross_method.yaml"
    refs.write_text(yaml.safe_dump({
        "references": [{"label": "two spins", "run": "two_exact", "observables": ["sx", "sz"]}],
        "budget": {"references": [{"run": "two_exact"}], "floor": {"steps": 30, "lr": 0.01}}}))
    return root, files, floors, refs


def test_budget_figure_numbers_are_the_runs_tables(pipeline_run):
    root, files, floors, refs = pipeline_run
    out = root / "results" / "review" / "budget.pdf"
    assert main(["budget", str(refs), *map(str, files), "--floors", *map(str, floors), "--out", str(out)]) == 0
    table = pd.read_csv(out.with_suffix(".csv"))
    exact = pd.read_csv(files[0]).set_index("observable")["value"]
    obs = ["sx", "sz"]
    assert set(table["run"]) == {"two_transformer", "two_rbm"}
    for f in files[1:]:
        run = f.parent.parent.name
        mine = table[table["run"] == run]
        result = pd.read_csv(f).set_index("observable")
        final = mine[mine["kind"] == "result"].iloc[0]
        assert np.isclose(final["max_abs_error"], np.max(np.abs(result["value"][obs] - exact[obs])))
        full = pd.read_csv(f.with_suffix(".history.csv"))
        hist = full.assign(wall=full["time_s"].cumsum()).dropna(subset=obs)
        curve = mine[mine["kind"] == "history"]
        # tracked every iteration (125 of them): means over blocks of 3, at most 60 points; every 2nd: as tracked
        block = 3 if run == "two_transformer" else 1
        assert (curve["block"] == block).all()
        g = hist.groupby(np.arange(len(hist)) // block)
        assert list(curve["iteration"]) == list(g["iteration"].last())
        assert np.allclose(curve["max_abs_error"], np.max(np.abs(g[obs].mean().to_numpy() - exact[obs].to_numpy()), axis=1))
        per = json.loads(f.with_suffix(".json").read_text())["spec"]["method"]
        per = per["samples"] if run == "two_transformer" else per["n_samples"]
        assert list(curve["samples"]) == [i * per for i in g["iteration"].last()]
        assert np.allclose(curve["wall_time_s"], g["wall"].last())
        assert final["iteration"] == full["iteration"].max() and final["samples"] == final["iteration"] * per
        assert np.isclose(final["wall_time_s"], full["time_s"].sum())
        assert final["run_wall_time_s"] == json.loads(f.with_suffix(".json").read_text())["wall_time_s"]
        floor = pd.read_csv(root / "results" / "review" / "floors" / run / "base.csv").set_index("observable")
        assert np.isclose(mine[mine["kind"] == "floor"]["max_abs_error"].iloc[0], floor["abs_error"][obs].max())
    lin = json.loads(out.with_suffix(".json").read_text())
    assert set(lin["runs"]) == {"two_exact", "two_transformer", "two_rbm"}
    assert out.with_suffix(".png").stat().st_size > 0


def test_budget_refuses_a_reference_the_file_does_not_have(pipeline_run, tmp_path, capsys):
    root, files, floors, refs = pipeline_run
    bad = tmp_path / "refs.yaml"
    doc = yaml.safe_load(refs.read_text())
    doc["budget"]["references"] = [{"run": "two_exact", "point": "g=1"}]
    bad.write_text(yaml.safe_dump(doc))
    out = tmp_path / "budget.pdf"
    assert main(["budget", str(bad), *map(str, files), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "budget.references[0]" in err[0], err
    assert not out.exists() and not out.with_suffix(".csv").exists()
    del doc["budget"]
    bad.write_text(yaml.safe_dump(doc))
    assert main(["budget", str(bad), *map(str, files), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no `budget:` section" in err[0], err
    assert not out.exists() and not out.with_suffix(".csv").exists()
