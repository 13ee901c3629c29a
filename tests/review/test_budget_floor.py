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
from lindblad_nqs.floor import CONVERGED, _torch_lbfgs, all_log_probs, fit_floor, lbfgs, stalled
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
    table, info = fit_floor(parse_spec(_spec(system, method)))  # the default: L-BFGS (cnn, rbm) or Adam on the table
    assert info["optimizer"] == "auto" and info["iterations"] <= info["steps"], info
    assert info["fitted_by"] == ("adam" if method["name"] == "transformer" else "lbfgs"), info
    ref = _qutip_values(system)
    assert np.allclose(table.set_index("observable")["exact"][list(ref)], list(ref.values()), atol=1e-8)
    assert info["max_abs_error"] < tol, table
    assert info["loss"] < 1e-4 and info["trace_distance"] < 1e-2
    assert np.isclose(info["max_abs_error"], np.max(np.abs(table["fit"] - table["exact"])))


def test_floor_of_a_network_too_small_for_the_state_is_not_zero():
    """One hidden and one ancilla unit per site on the 4-site ring at g = 2: the fit stalls at an
    infidelity of several 1e-3 and misses the observables by more than the representable cases' 1e-2."""
    table, info = fit_floor(parse_spec(_spec(RING4, {"name": "rbm_ndo", "alpha": 1, "ancilla": 1})))
    assert info["loss"] > 1e-3 and info["max_abs_error"] > 1e-2 and info["trace_distance"] > 1e-2, (info, table)
    assert info["stop_reason"] in CONVERGED, info  # at its ansatz limit, not out of steps


def _rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def test_lbfgs_stops_where_the_gradient_vanishes():
    """Rosenbrock's valley (minimum 0 at (1, 1)): a stopping rule that fired on the slow valley floor
    (or after the first window) would report a stop where the gradient is still large."""
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        x, run = lbfgs(_rosenbrock, jnp.array([-1.2, 1.0]), steps=500, tol=1e-6, window=5)
        g = np.linalg.norm(np.asarray(jax.grad(_rosenbrock)(x)))
    assert run["stop_reason"] in CONVERGED and run["iterations"] < 500, run
    assert g < 1e-4 and np.allclose(np.asarray(x), 1.0, atol=1e-3), (x, g, run)
    assert run["evaluations"] >= run["iterations"]


def test_torch_lbfgs_stops_where_the_gradient_vanishes():
    import torch

    x = torch.nn.Parameter(torch.tensor([-1.2, 1.0], dtype=torch.float64))
    model = torch.nn.Module()
    model.x = x
    run = _torch_lbfgs(model, lambda: _rosenbrock(x), steps=500, tol=1e-6, window=5)
    loss = _rosenbrock(x)
    (g,) = torch.autograd.grad(loss, x)
    assert run["stop_reason"] == "rel_decrease" and run["iterations"] < 500, run
    assert float(g.norm()) < 1e-4 and np.allclose(x.detach().numpy(), 1.0, atol=1e-3), (x, g, run)


def test_lbfgs_stop_of_a_network_too_small_is_a_stationary_point():
    """The stopping rule on a real fit with a non-zero minimum: where it reports a stop the gradient of
    the infidelity is a small fraction of the one at the start of L-BFGS (a rule that fired early, on a
    slow stretch, would not be)."""
    import jax

    from lindblad_nqs.floor import DensityFit, adam

    fit = DensityFit(parse_spec(_spec(RING4, {"name": "rbm_ndo", "alpha": 1, "ancilla": 1})))
    start = adam(fit.infidelity, fit.init(0), 200, 0.01)
    theta, run = lbfgs(fit.infidelity, start, steps=1000, tol=1e-3, window=10)

    def norm(t):
        return float(np.sqrt(sum(np.sum(np.asarray(v) ** 2) for v in jax.tree_util.tree_leaves(jax.grad(fit.infidelity)(t)))))

    assert run["stop_reason"] in CONVERGED and run["iterations"] < 1000, run
    assert norm(theta) < 0.05 * norm(start), (norm(theta), norm(start), run)
    assert float(fit.infidelity(theta)) < float(fit.infidelity(start))


def test_stalled_rule():
    assert stalled(1.0, 0.9995, 1e-3) and stalled(1.0, 1.2, 1e-3) and stalled(1.0, float("nan"), 1e-3)
    assert not stalled(1.0, 0.99, 1e-3) and not stalled(1e-8, 0.5e-8, 1e-3)  # relative, not absolute


@pytest.mark.parametrize("strings, shape", [("0s", [5]), ("1s", [2, 2]), ("8s", [2, 2])])
def test_all_log_probs_is_the_models_log_prob(strings, shape):
    """The prefix table of the floor's KL against the model's own log p(a) over every string."""
    import torch

    from lindblad_nqs.povm.lindbladian import all_strings
    from lindblad_nqs.povm_solvers.training import NetConfig, build_model

    system = parse_spec(_spec({"lattice": {"shape": shape, "boundary": "periodic"}, "preset": {"name": "tfi", "V": 2.0, "g": 2.0}},
                              {"name": "exact"})).system
    torch.manual_seed(1)
    model = build_model(system, NetConfig(1, 16, 2, 0, strings, "float64"), [0.1, 0.2, 0.3, 0.4])
    with torch.no_grad():
        for q in model.parameters():
            q.add_(0.3 * torch.randn_like(q))
    a = torch.as_tensor(all_strings(system.n_sites))
    ref, new = model.log_prob(a), all_log_probs(model, a)
    assert torch.allclose(new, ref, atol=1e-12, rtol=0) and abs(float(new.exp().sum()) - 1) < 1e-12
    (g_ref,) = torch.autograd.grad(ref.exp().pow(2).sum(), model.head.bias if strings == "0s" else model.base.head.bias)
    (g_new,) = torch.autograd.grad(new.exp().pow(2).sum(), model.head.bias if strings == "0s" else model.base.head.bias)
    assert torch.allclose(g_new, g_ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("flags, words", [
    (["--tol", "0"], "--tol must be > 0"), (["--tol=-1e-3"], "--tol must be > 0"),
    (["--optimizer", "sgd"], "--optimizer must be one of auto, lbfgs, adam"), (["--window", "0"], "--window"),
    (["--warmup=-1"], "--warmup"), (["--steps", "0"], "--steps")])
def test_floor_refuses_bad_settings(tmp_path, capsys, flags, words):
    spec = tmp_path / "spec.yaml"
    out = tmp_path / "floor.csv"
    spec.write_text(yaml.safe_dump(_spec(PRODUCT, {"name": "cnn", "features": [2], "kernels": [1]})))
    assert main(["floor", str(spec), "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert not out.exists() and not out.with_suffix(".json").exists()


@pytest.mark.parametrize("floor, words", [
    ({"optimizer": "sgd"}, "budget.floor.optimizer must be one of auto, lbfgs, adam"),
    ({"tol": 0}, "budget.floor.tol must be > 0"), ({"warmup": -1}, "budget.floor.warmup must be an integer >= 0"),
    ({"window": 0}, "budget.floor.window must be an integer >= 1"), ({"steps": 2.5}, "budget.floor.steps"),
    ({"gtol": 1}, "budget.floor: unknown key gtol")])
def test_budget_refuses_bad_floor_settings(tmp_path, floor, words):
    from lindblad_nqs.budget import load_budget
    from lindblad_nqs.claims import ClaimsError

    refs = tmp_path / "cross_method.yaml"
    refs.write_text(yaml.safe_dump({
        "references": [{"label": "two spins", "run": "two_exact", "observables": ["sx"]}],
        "budget": {"references": [{"run": "two_exact"}], "floor": floor}}))
    with pytest.raises(ClaimsError) as e:
        load_budget(refs)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_adam_floor_is_selectable(tmp_path):
    """--optimizer adam: the fixed-step fit of before, for comparison (benchmarks/bench_floor.py)."""
    spec = tmp_path / "spec.yaml"
    out = tmp_path / "floor.csv"
    spec.write_text(yaml.safe_dump(_spec(PRODUCT, {"name": "cnn", "features": [2], "kernels": [1]})))
    assert main(["floor", str(spec), "--out", str(out), "--optimizer", "adam", "--steps", "30"]) == 0
    info = json.loads(out.with_suffix(".json").read_text())
    assert (info["optimizer"], info["fitted_by"], info["iterations"], info["stop_reason"]) == ("adam", "adam", 30, "steps")


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


def test_the_budget_title_names_how_the_floors_were_fitted():
    from lindblad_nqs.figures.cross_method import floor_how

    auto = floor_how({"optimizer": "auto", "steps": 1000, "lr": 0.01})
    assert "L-BFGS after 100 Adam steps" in auto and "Transformer: 1000 Adam steps" in auto
    assert floor_how({"optimizer": "adam", "steps": 500, "lr": 0.02}) == "500 Adam steps, lr 0.02"
    assert "L-BFGS" in floor_how({"optimizer": "lbfgs", "warmup": 50}) and "Adam steps, lr" not in floor_how(
        {"optimizer": "lbfgs"})
