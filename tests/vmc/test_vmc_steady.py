"""Full steady-state runs of the cnn and rbm_ndo methods on 2-3 spins reach the exact observables;
checkpoints resume exactly; transfer learning loads a smaller lattice's parameters; bad keys are
SpecErrors naming the key."""

import numpy as np
import pytest

from lindblad_nqs.exact.dynamics import dense_expect
from lindblad_nqs.exact.steady import solve_sector
from lindblad_nqs.methods import RunContext, get_method
from lindblad_nqs.observables import evaluate
from lindblad_nqs.spec import SpecError, parse_spec

SYSTEM = {"lattice": {"shape": [2], "boundary": "open"}, "couplings": {"Jz": 0.5}, "field": {"hx": 0.6},
          "jumps": [{"op": "sigma_minus", "rate": 1.0}, {"op": "sigma_z", "rate": 0.3}]}
OBS = ["sx", "sy", "sz", "szsz:1"]


def spec(method, system=SYSTEM, obs=OBS, seed=0):
    return parse_spec({"system": system, "task": {"kind": "steady"}, "method": method, "observables": obs,
                       "seed": seed})


def exact(s):
    rho = solve_sector(s.system).rho
    ex = dense_expect(rho, s.system.n_sites)
    return {o.name: evaluate(o, ex) for o in s.observables}


def solve(s, tmp_path, name="run", init=None):
    ctx = RunContext(state_dir=tmp_path / name, init_state=init)
    return get_method(s.method).solve(s, ctx)


@pytest.mark.parametrize("method", [
    {"name": "cnn", "features": [4, 8], "kernels": [3, 3], "iterations": 300, "n_samples": 512, "lr": 0.02,
     "obs_samples": 8192, "track_every": 100},
    pytest.param({"name": "rbm_ndo", "iterations": 150, "lr": 0.05, "n_samples": 512, "obs_samples": 8192,
                  "track_every": 50}, marks=pytest.mark.slow),
])
def test_steady_state_run_reaches_exact(method, tmp_path):
    s = spec(method)
    res = solve(s, tmp_path)
    ref = exact(s)
    got = {name: (v, e) for _, name, v, e in res.rows}
    for k, v in ref.items():
        assert abs(got[k][0] - v) < 0.03 + 3 * got[k][1], (k, got[k], v)
    h = res.history
    assert h["cost"].iloc[-20:].mean() < 0.05 * h["cost"].iloc[0]
    assert res.info["final_cost"] < 0.02
    if "accepted" in h:  # Gauss-Newton (the default) reports each step's acceptance, which checks.py reads
        assert res.info["accepted_steps"] == int(h["accepted"].sum()) > 0
    assert 0.05 < res.info["observable_sampler"]["acceptance"] <= 1
    assert np.isfinite(res.info["observable_sampler"]["rhat"])
    ev = np.array(res.info["rho_eigenvalues"])
    rho = solve_sector(s.system).rho
    assert np.allclose(ev, np.sort(np.linalg.eigvalsh(rho))[::-1], atol=0.05)


def test_x_basis_run_reaches_exact_rotated_model(tmp_path):
    """The rotated Ising model (XX bonds, Z field, sigma^-) trained in the Hadamard basis reaches the
    exact observables of the unrotated model: XX correlations are read from the network's ZZ, <Y> with
    its sign flipped. The exact reference never sees the rotation."""
    system = {"lattice": {"shape": [3], "boundary": "open"},
              "preset": {"name": "rotated_ising", "V": -2.0, "g": -1.0, "gamma": 1.0}}
    s = spec({"name": "cnn", "basis": "x", "sampler": "full_sum", "iterations": 150, "obs_samples": 8192,
              "track_every": 50},
             system=system, obs=["sx", "sz", "sxsx:0,1", "sxsx:0,2", "szsz:0,1"])
    res = solve(s, tmp_path)
    ref = exact(s)
    assert abs(ref["sxsx:0,1"]) > 0.1 and abs(ref["sz"]) > 0.3  # nothing trivially zero
    got = {name: (v, e) for _, name, v, e in res.rows}
    for k, v in ref.items():
        assert abs(got[k][0] - v) < 0.03 + 3 * got[k][1], (k, got[k], v)
    assert res.info["final_cost"] < 1e-3 and not res.info["sector_restricted"]


@pytest.mark.parametrize("optimizer", ["gn", pytest.param("nagd", marks=pytest.mark.slow)])
def test_checkpoint_resume_is_exact(tmp_path, optimizer):
    """The optimiser's state (NAGD+: momentum point, previous iterate, t, step), the chains and the key
    survive the checkpoint: an interrupted run continues bit for bit."""
    base = {"name": "cnn", "features": [2, 3], "lr_final_factor": 1.0, "n_samples": 64, "n_chains": 8, "obs_samples": 256,
            "obs_chains": 8, "track_every": 2, "track_samples": 64, "n_discard": 4, "optimizer": optimizer}
    straight = solve(spec(dict(base, iterations=6, checkpoint_every=100)), tmp_path, "a")
    solve(spec(dict(base, iterations=3, checkpoint_every=3)), tmp_path, "b")
    resumed = solve(spec(dict(base, iterations=6, checkpoint_every=3)), tmp_path, "b")
    assert resumed.info["resumed_from_iteration"] == 3
    pa, pb = np.load(tmp_path / "a" / "params.npz"), np.load(tmp_path / "b" / "params.npz")
    for k in pa.files:
        np.testing.assert_array_equal(pa[k], pb[k])
    assert list(resumed.history["iteration"]) == list(range(1, 7))
    np.testing.assert_array_equal(resumed.history["cost"], straight.history["cost"])
    tracked = [c for c in straight.history if f"{c}_stderr" in straight.history]  # every tracked value has its error
    assert tracked and (straight.history[[f"{c}_stderr" for c in tracked]].dropna() > 0).all().all()
    # another system in the same state dir does not resume from it
    other = dict(SYSTEM, field={"hx": 0.3})
    fresh = solve(spec(dict(base, iterations=4, checkpoint_every=3), system=other), tmp_path, "b")
    assert "resumed_from_iteration" not in fresh.info and fresh.info["checkpoint_ignored"]


@pytest.mark.slow
def test_transfer_from_smaller_lattice(tmp_path):
    m = {"name": "cnn", "features": [2, 3], "iterations": 2, "n_samples": 64, "n_chains": 8, "obs_samples": 256,
         "obs_chains": 8, "track_every": 1, "track_samples": 64, "n_discard": 4}
    solve(spec(m), tmp_path, "small")
    big = dict(SYSTEM, lattice={"shape": [4], "boundary": "open"})
    res = solve(spec(dict(m, iterations=1), system=big), tmp_path, "big", init=tmp_path / "small")
    assert res.info["initialised_from"] == str(tmp_path / "small")
    small_p, big_p = np.load(tmp_path / "small" / "params.npz"), np.load(tmp_path / "big" / "params.npz")
    assert small_p.files == big_p.files
    # a network of another shape cannot start from it
    with pytest.raises(SpecError, match="init-state"):
        solve(spec(dict(m, features=[3, 3]), system=big), tmp_path, "bad", init=tmp_path / "small")
    # nor one trained in the other basis (its parameters describe U rho U)
    with pytest.raises(SpecError, match="trained in the z basis; this run has method.basis x"):
        solve(spec(dict(m, basis="x"), system=big), tmp_path, "bad_basis", init=tmp_path / "small")


@pytest.mark.parametrize("method,key", [
    ({"name": "cnn", "optimizer": "lbfgs"}, "method.optimizer"),
    ({"name": "cnn", "beta": 1.5}, "method.beta"),
    ({"name": "cnn", "kernels": [3]}, "method.kernels"),
    ({"name": "rbm_ndo", "sampler": "exact", "n_samples": 10}, None),
    ({"name": "cnn", "n_samples": "many"}, "method.n_samples"),
    ({"name": "rbm_ndo", "widht": 3}, "method.widht"),
])
def test_bad_keys_are_spec_errors(method, key, tmp_path):
    if key is None:  # valid
        spec(method)
        return
    with pytest.raises(SpecError, match=key.replace(".", r"\.")):
        s = spec(method)
        solve(s, tmp_path)


@pytest.mark.slow
def test_nan_cost_is_detected_and_aborts(tmp_path):
    """A network whose output is NaN makes every iteration fail: rolled back five times, then a clear error."""
    import jax.numpy as jnp
    from flax import linen as nn

    from lindblad_nqs.methods import get_method
    from lindblad_nqs.vmc.driver import run_steady
    from lindblad_nqs.vmc.sampling import prng_key

    class Broken(nn.Module):
        @nn.compact
        def __call__(self, x):
            w = self.param("w", nn.initializers.ones, (1,))
            return jnp.sum(x, axis=(1, 2)) * w[0] * jnp.nan + 0j

    s = spec({"name": "cnn"})
    m = Broken()
    params = m.init(prng_key(0), jnp.zeros((1, 2, 2), jnp.int8))
    cfg = dict(get_method("cnn").defaults, iterations=20, n_samples=16, n_chains=4, n_discard=1, track=[])
    with pytest.raises(FloatingPointError, match="not finite"):
        run_steady(s.system, m, params, cfg, list(s.observables), seed=0, state_dir=tmp_path / "nan")


def test_optimiser_that_rejects_every_step_is_refused_through_the_cli(tmp_path, monkeypatch, capsys):
    """A Gauss-Newton run whose every step is rejected ends at its initial state: the CLI refuses it and
    writes no result (issue 13: an optimiser that never moved is not a solution)."""
    import yaml

    from lindblad_nqs.cli import main
    from lindblad_nqs.vmc import optimizers

    orig = optimizers.GaussNewton.update

    def never(self, *a, **k):
        state, info = orig(self, *a, **k)
        return state, dict(info, accepted=False)

    monkeypatch.setattr(optimizers.GaussNewton, "update", never)
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump({"system": SYSTEM, "task": {"kind": "steady"}, "observables": ["sz"],
                                 "method": {"name": "cnn", "features": [2], "kernels": [3], "iterations": 3,
                                            "n_samples": 64, "n_chains": 8, "n_discard": 2, "obs_samples": 256,
                                            "obs_chains": 8, "track": [], "eig_max_sites": 0}}))
    out = tmp_path / "result.csv"
    assert main(["solve", str(p), "--out", str(out)]) == 2
    assert "never accepted a step" in capsys.readouterr().err
    assert not out.exists()


def test_a_shorter_budget_does_not_reuse_a_longer_runs_checkpoint(tmp_path):
    """Lowering iterations with the same state dir used to return the longer run's model labelled as the
    shorter one (and raising it again duplicated history rows): now the shorter run starts afresh and
    equals a straight run of its own budget."""
    base = {"name": "cnn", "features": [2, 3], "lr_final_factor": 1.0, "n_samples": 64, "n_chains": 8, "obs_samples": 256,
            "obs_chains": 8, "track_every": 2, "track_samples": 64, "n_discard": 4, "checkpoint_every": 2}
    straight = solve(spec(dict(base, iterations=2)), tmp_path, "a")
    solve(spec(dict(base, iterations=4)), tmp_path, "b")
    shorter = solve(spec(dict(base, iterations=2)), tmp_path, "b")
    assert "resumed_from_iteration" not in shorter.info and "iteration 4 > iterations 2" in shorter.info["checkpoint_ignored"]
    assert list(shorter.history["iteration"]) == [1, 2]
    np.testing.assert_allclose(shorter.history["cost"], straight.history["cost"], rtol=1e-6)
    longer = solve(spec(dict(base, iterations=4)), tmp_path, "b")  # resumes the shorter run's checkpoint at 2
    assert list(longer.history["iteration"]) == [1, 2, 3, 4]
