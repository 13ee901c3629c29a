"""The transformer's checkpoints follow checkpoint.Checkpointer's policy: a finished training is reused when
only keys that cannot change the trained model differ (eval_samples of a steady task), and the reused
run's result equals a fresh run with those keys; any other change (lr) trains afresh."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lindblad_nqs.methods import RunContext, get_method  # noqa: E402
from lindblad_nqs.povm_solvers import training  # noqa: E402
from lindblad_nqs.spec import parse_spec  # noqa: E402

METHOD = {"name": "transformer", "iterations": 3, "samples": 16, "eval_samples": 16, "n_layers": 1, "d_model": 8,
          "n_heads": 2, "d_ff": 8, "device": "cpu"}


def spec(**method):
    return parse_spec({"system": {"lattice": {"shape": [2], "boundary": "periodic"}, "couplings": {"Jz": 0.5},
                                  "field": {"hx": 0.5}, "jumps": [{"op": "sigma_minus", "rate": 1.0}]},
                       "task": {"kind": "steady"}, "method": dict(METHOD, **method), "observables": ["sx", "sz"]})


def solve(s, d):
    return get_method(s.method).solve(s, RunContext(state_dir=d))


@pytest.fixture
def count_iterations(monkeypatch):
    calls = []
    orig = training.POVMTrainer.steady_iteration

    def counted(self, *a, **k):
        calls.append(1)
        return orig(self, *a, **k)

    monkeypatch.setattr(training.POVMTrainer, "steady_iteration", counted)
    return calls


def test_changing_eval_samples_reuses_the_finished_training(tmp_path, count_iterations):
    solve(spec(), tmp_path / "a")
    assert len(count_iterations) == 3
    reused = solve(spec(eval_samples=64), tmp_path / "a")
    assert len(count_iterations) == 3, "the finished training was run again"
    assert reused.info["per_run"][0]["resumed_from"]["iteration"] == 3
    fresh = solve(spec(eval_samples=64), tmp_path / "b")  # the same spec from scratch: the same numbers
    assert [r[2:] for r in reused.rows] == [r[2:] for r in fresh.rows]
    np.testing.assert_array_equal(reused.history["cost"], fresh.history["cost"])


def test_changing_lr_trains_afresh(tmp_path, count_iterations):
    solve(spec(), tmp_path / "a")
    other = solve(spec(lr=0.02), tmp_path / "a")
    assert len(count_iterations) == 6
    assert other.info["per_run"][0]["resumed_from"] is None
