"""A diverging run (a NaN or infinite cost or update) stops with one line naming the problem, a non-zero
exit and no result file (issue 16, item 6). The divergence is injected where each solver family meets
it: the TDVP update (rbm_tdvp, rnn_tdvp), the L2 cost of the steady VMC (cnn), the Transformer's
parameters after a training step."""

import dataclasses

import numpy as np
import pytest
import yaml

from lindblad_nqs.cli import main

CHAIN = {"lattice": {"shape": [3], "boundary": "periodic"},
         "preset": {"name": "heisenberg", "Jx": 2.0, "Jy": 0.0, "Jz": 1.0, "B": 1.0}}
DYN = {"kind": "dynamics", "t_final": 0.04, "dt": 0.01, "save_every": 0.02, "initial": {"product": "y-"}}
SPECS = {
    "rbm_tdvp": {"system": CHAIN, "task": DYN, "observables": ["sz"],
                 "method": {"name": "rbm_tdvp", "hidden": 2, "mixing": 2, "n_samples": 200, "n_chains": 20,
                            "obs_samples": 200, "obs_chains": 20, "track_every": 2, "track_samples": 100,
                            "n_discard": 20}},
    "rnn_tdvp": {"system": CHAIN, "task": DYN, "observables": ["sz"],
                 "method": {"name": "rnn_tdvp", "hidden": 4, "n_samples": 200, "obs_samples": 200,
                            "integrator": "rk4"}},
    "cnn": {"system": {"lattice": {"shape": [2], "boundary": "open"}, "couplings": {"Jz": 0.5}, "field": {"hx": 0.6},
                       "jumps": [{"op": "sigma_minus", "rate": 1.0}]},
            "task": {"kind": "steady"}, "observables": ["sz"],
            "method": {"name": "cnn", "features": [2], "kernels": [3], "iterations": 20, "n_samples": 64,
                       "n_chains": 8, "n_discard": 2, "obs_samples": 256, "obs_chains": 8, "track": [],
                       "eig_max_sites": 0}},
    "transformer": {"system": {"lattice": {"shape": [2], "boundary": "periodic"}, "couplings": {"Jz": 0.5},
                               "field": {"hx": 0.5}, "jumps": [{"op": "sigma_minus", "rate": 1.0}]},
                    "task": {"kind": "steady"}, "observables": ["sz"],
                    "method": {"name": "transformer", "iterations": 3, "samples": 16, "eval_samples": 16,
                               "n_layers": 1, "d_model": 8, "n_heads": 2, "d_ff": 8, "device": "cpu"}},
}


def _nan_tdvp(monkeypatch):
    from lindblad_nqs.variational import tdvp

    solve = tdvp.solve

    def diverging(*a, **k):
        theta_dot, A, d = solve(*a, **k)
        return theta_dot * np.nan, A, d

    monkeypatch.setattr(tdvp, "solve", diverging)


def _nan_cost(monkeypatch):
    from lindblad_nqs.vmc import cost

    make = cost.make_cost

    def diverging(*a, **k):
        c = make(*a, **k)
        vg = c.value_and_grad

        def nan_vg(th, x, lq):
            value, g, aux = vg(th, x, lq)
            return value * np.inf, g, aux

        return dataclasses.replace(c, value_and_grad=nan_vg)

    monkeypatch.setattr(cost, "make_cost", diverging)


def _nan_params(monkeypatch):
    import torch

    from lindblad_nqs.povm_solvers import training

    step = training.POVMTrainer.steady_iteration

    def diverging(self, *a, **k):
        rec = step(self, *a, **k)
        with torch.no_grad():
            for q in self.model.parameters():
                q.fill_(float("nan"))
        return rec

    monkeypatch.setattr(training.POVMTrainer, "steady_iteration", diverging)


INJECT = {"rbm_tdvp": _nan_tdvp, "rnn_tdvp": _nan_tdvp, "cnn": _nan_cost, "transformer": _nan_params}
EXPECT = {"rbm_tdvp": "not finite at t = 0", "rnn_tdvp": "not finite at t = 0", "cnn": "not finite",
          "transformer": "the run diverged"}


@pytest.mark.parametrize("method", [
    "rbm_tdvp", "rnn_tdvp",
    "cnn",
    "transformer",
])
def test_diverging_run_stops_with_one_line_and_no_result(tmp_path, monkeypatch, capsys, method):
    if method == "transformer":
        pytest.importorskip("torch")
    INJECT[method](monkeypatch)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPECS[method]))
    out = tmp_path / "result.csv"
    try:
        rc = main(["solve", str(spec), "--out", str(out), "--state-dir", str(tmp_path / "state")])
    except Exception as e:  # noqa: BLE001 - what escapes the CLI is a traceback, not a one-line error
        pytest.fail(f"{type(e).__name__} escaped the CLI: {e}")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2, err
    assert len(err) == 1 and err[0].startswith("lindblad-nqs: error:") and EXPECT[method] in err[0], err
    assert not out.exists() and not out.with_suffix(".json").exists()


# --- the Transformer stops at the divergence rule, not at the end of its budget ----------------------

def _count_nan_costs(monkeypatch, name, bad=lambda n: True):
    """Replaces training.NAME (l1_cost or trapezoid_cost) by the real cost with a NaN value on the calls
    where bad(call number) holds; returns the list of call numbers made."""
    from lindblad_nqs.povm_solvers import training

    real, calls = getattr(training, name), []

    def cost(*a, **k):
        res = real(*a, **k)
        calls.append(len(calls) + 1)
        return dataclasses.replace(res, value=float("nan")) if bad(len(calls)) else res

    monkeypatch.setattr(training, name, cost)
    return calls


def _solve(tmp_path, spec):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "result.csv"
    rc = main(["solve", str(path), "--out", str(out), "--state-dir", str(tmp_path / "state")])
    return rc, out


TRANSFORMER_DYN = {**SPECS["transformer"], "task": {"kind": "dynamics", "t_final": 0.2, "dt": 0.02, "save_every": 0.1,
                                                     "initial": {"product": "z+"}},
                   "method": {**SPECS["transformer"]["method"], "inner_max": 20, "inner_min": 20, "inner_tol": 1e-9}}


@pytest.mark.parametrize("task, cost", [("steady", "l1_cost"), ("dynamics", "trapezoid_cost")])
def test_transformer_stops_after_five_nonfinite_costs(tmp_path, monkeypatch, capsys, task, cost):
    """40 steady iterations / 10 steps of 20 inner iterations, every cost NaN: the run stops at the 5th
    (the old loop ran its whole budget and failed only at the final result check)."""
    pytest.importorskip("torch")
    spec = ({**SPECS["transformer"], "method": {**SPECS["transformer"]["method"], "iterations": 40}}
            if task == "steady" else TRANSFORMER_DYN)
    calls = _count_nan_costs(monkeypatch, cost)
    rc, out = _solve(tmp_path, spec)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert "the run diverged: cost or gradient not finite in 5 consecutive iterations" in err[0], err
    assert len(calls) == 5
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_transformer_survives_isolated_nonfinite_costs(tmp_path, monkeypatch):
    """Four NaN costs in a row, then finite ones: no step is taken on the bad ones, the run finishes with
    a finite result and one history row per finite iteration."""
    pytest.importorskip("torch")
    import pandas as pd

    spec = {**SPECS["transformer"], "method": {**SPECS["transformer"]["method"], "iterations": 10}}
    calls = _count_nan_costs(monkeypatch, "l1_cost", bad=lambda n: 2 <= n <= 5)
    rc, out = _solve(tmp_path, spec)
    assert rc == 0 and len(calls) == 10
    table = pd.read_csv(out)
    assert np.isfinite(table["value"]).all()
    hist = pd.read_csv(out.with_suffix(".history.csv"))
    assert list(hist["iteration"]) == [1, 6, 7, 8, 9, 10] and np.isfinite(hist["cost"]).all()
