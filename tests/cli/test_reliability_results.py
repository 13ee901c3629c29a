"""No silent wrong answer, on the output side: a result is checked before it is written, and the files
of one result appear together, with the usual mode, or not at all (issue 13, items 1 and 2)."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from lindblad_nqs import methods, results
from lindblad_nqs.checks import RunError
from lindblad_nqs.cli import main

SPEC = """\
system:
  lattice: {shape: [3], boundary: periodic}
  couplings: {Jx: 0.9, Jy: 1.8, Jz: 1.0}
  jumps: [{op: sigma_minus, rate: 1.0}]
task: {kind: steady}
method: {name: exact}
observables: [sx, sy, sz, "szsz_c:1"]
"""


@pytest.fixture
def spec(tmp_path):
    p = tmp_path / "spec.yaml"
    p.write_text(SPEC)
    return p


@pytest.fixture
def fake(monkeypatch):
    """Replace the exact solver by one that returns the given Result, and count its calls."""
    calls = []

    def install(rows=None, info=None, history=None):
        rows = rows if rows is not None else [(None, o, 0.1, 0.0) for o in ("sx", "sy", "sz", "szsz_c:1")]

        def solve(spec, ctx):
            calls.append(spec)
            return methods.Result(list(rows), dict(info or {}), history)

        old = methods.get_method("exact")
        monkeypatch.setitem(methods._REGISTRY, "exact", methods.MethodInfo("exact", solve, old.keys, old.tasks))
        return calls

    return install


def _refused(capsys, out, expected):
    err = capsys.readouterr().err.strip()
    assert expected in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and not out.with_suffix(".json").exists()
    if out.parent.exists():
        assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary files left


# --- item 1: checked results ------------------------------------------------------------------------
@pytest.mark.parametrize("rows, expected", [
    ([(None, "sy", 2.45, 0.01)], "outside [-1, 1]"),  # the diverged Transformer of the issue
    ([(None, "szsz_c:1", -2.3, 0.0)], "outside [-2, 2]"),
    ([(None, "sz", float("nan"), 0.1)], "non-finite"),
    ([(None, "sz", 0.2, float("inf"))], "non-finite"),
    ([(0.5, "sx", None, 0.0)], "at t = 0.5"),
    ([(None, "sz", 0.2, -0.1)], "negative"),
])
def test_impossible_result_is_refused(tmp_path, spec, fake, capsys, rows, expected):
    fake(rows)
    out = tmp_path / "r" / "result.csv"
    assert main(["solve", str(spec), "--out", str(out)]) == 2
    _refused(capsys, out, expected)


def test_values_within_their_error_pass(tmp_path, spec, fake):
    """|<sz>| = 1.02 with stderr 0.01 is within 5 stderr of the bound; a connected correlator may reach 2."""
    fake([(None, "sz", -1.02, 0.01), (None, "szsz_c:1", 1.5, 0.0), (None, "sx", 1 + 1e-9, 0.0)])
    out = tmp_path / "result.csv"
    assert main(["solve", str(spec), "--out", str(out)]) == 0
    assert list(pd.read_csv(out)["value"]) == pytest.approx([-1.02, 1.5, 1.0])


def test_optimiser_that_never_accepted_a_step_is_refused(tmp_path, spec, fake, capsys):
    fake(info={"accepted_steps": 0})
    out = tmp_path / "result.csv"
    assert main(["solve", str(spec), "--out", str(out)]) == 2
    _refused(capsys, out, "never accepted a step")


def test_history_without_an_accepted_step_is_refused(tmp_path, spec, fake, capsys):
    fake(history=pd.DataFrame({"iteration": [1, 2, 3], "cost": [1.0, 1.0, 1.0], "accepted": [False] * 3}))
    out = tmp_path / "result.csv"
    assert main(["solve", str(spec), "--out", str(out)]) == 2
    _refused(capsys, out, "never accepted a step in 3 iterations")


def test_warning_goes_to_stderr_and_the_review_table(tmp_path, spec, fake, capsys):
    fake(info={"warning": "collapsed state: rho vanishes where L rho does not"})
    out = tmp_path / "result.csv"
    assert main(["solve", str(spec), "--out", str(out)]) == 0
    assert "warning: collapsed state" in capsys.readouterr().err
    review = tmp_path / "review.csv"
    assert main(["review", str(out), "--out", str(review)]) == 0
    assert "collapsed state" in pd.read_csv(review)["warning"].iloc[0]


def test_provenance_is_strict_json(tmp_path, spec, fake):
    """NaN (not JSON) in the provenance becomes null; the file parses with a strict reader."""
    fake(info={"final_cost": float("nan"), "eigs": np.array([1.0, np.inf]), "n": np.int64(3)})
    out = tmp_path / "result.csv"
    assert main(["solve", str(spec), "--out", str(out)]) == 0

    def reject(token):
        raise ValueError(f"not JSON: {token}")

    prov = json.loads(out.with_suffix(".json").read_text(), parse_constant=reject)
    assert prov["final_cost"] is None and prov["eigs"] == [1.0, None] and prov["n"] == 3


@pytest.mark.parametrize("system, expected", [
    ("couplings: {Jx: 0.9, Jy: 1.8, Jz: 1.0}", "no jumps"),
    # dephasing conserves the z parity (and sz, Jx = Jy) when the field has no x or y component
    ("couplings: {Jx: 1.0, Jy: 1.0, Jz: 0.5}\n  field: {hz: 0.3}\n  jumps: [{op: sigma_z, rate: 0.5}]",
     "parity prod_i sigma^z_i is conserved"),
])
def test_exact_steady_state_that_is_not_unique_is_refused(tmp_path, capsys, system, expected):
    p = tmp_path / "spec.yaml"
    p.write_text(SPEC.replace("couplings: {Jx: 0.9, Jy: 1.8, Jz: 1.0}\n  jumps: [{op: sigma_minus, rate: 1.0}]",
                              system))
    out = tmp_path / "result.csv"
    assert main(["solve", str(p), "--out", str(out)]) == 2
    _refused(capsys, out, "the steady state is not unique")
    assert main(["validate", str(p)]) == 2
    assert expected in capsys.readouterr().err


def test_singular_reduced_liouvillian_is_caught_numerically(monkeypatch):
    """The numerical guard behind the structural one: a singular or ill-conditioned system is refused."""
    from lindblad_nqs.exact import steady
    from lindblad_nqs.model import Jump, Lattice, SpinSystem

    monkeypatch.setattr(steady, "conserved_quantity", lambda system: None)
    for system in (SpinSystem(Lattice((3,), True), (0.9, 1.8, 1.0), (0.3, 0.0, 0.0), ()),
                   SpinSystem(Lattice((3,), True), (1.0, 1.0, 0.5), (0.0, 0.0, 0.2), (Jump("sigma_z", 1.0),))):
        with pytest.raises(RunError, match="not unique"):
            steady.solve_sector(system)
    ok = steady.solve_sector(SpinSystem(Lattice((3,), True), (0.9, 1.8, 1.0), (0, 0, 0), (Jump("sigma_minus", 1e-3),)))
    assert ok.relative_residual < 1e-10


# --- item 2: the output files ---------------------------------------------------------------------------
def test_outputs_get_the_usual_file_mode(tmp_path, spec, fake):
    fake(history=pd.DataFrame({"iteration": [1], "cost": [0.5]}))
    old = os.umask(0o022)
    try:
        out = tmp_path / "result.csv"
        assert main(["solve", str(spec), "--out", str(out)]) == 0
        review = tmp_path / "review.csv"
        assert main(["review", str(out), "--out", str(review)]) == 0
    finally:
        os.umask(old)
    for p in (out, out.with_suffix(".json"), results.history_path(out), review):
        assert p.stat().st_mode & 0o777 == 0o644, p


def test_files_appear_together_or_not_at_all(tmp_path, monkeypatch):
    """A failure between the renames leaves none of the files of the result."""
    replace = os.replace
    n = {"calls": 0}

    def flaky(src, dst):
        n["calls"] += 1
        if n["calls"] == 2:
            raise OSError(28, "No space left on device")
        return replace(src, dst)

    monkeypatch.setattr(results.os, "replace", flaky)
    out = tmp_path / "result.csv"
    with pytest.raises(OSError):
        results.write_result(out, [(None, "sz", 0.1, 0.0)], {"spec": {}})
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_stale_history_of_an_earlier_run_goes(tmp_path):
    out = tmp_path / "result.csv"
    results.write_result(out, [(None, "sz", 0.1, 0.0)], {}, pd.DataFrame({"iteration": [1]}))
    assert results.history_path(out).exists()
    results.write_result(out, [(None, "sz", 0.2, 0.0)], {})
    assert not results.history_path(out).exists()
    assert "history_file" not in json.loads(out.with_suffix(".json").read_text())


@pytest.mark.parametrize("where", ["out is a directory", "json is a directory", "parent is a file"])
def test_unwritable_out_is_refused_before_the_computation(tmp_path, spec, fake, capsys, where):
    calls = fake()
    out = tmp_path / "r" / "result.csv"
    if where == "out is a directory":
        out.mkdir(parents=True)
    elif where == "json is a directory":
        out.with_suffix(".json").mkdir(parents=True)
    else:
        (tmp_path / "r").write_text("a file")
    assert main(["solve", str(spec), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"--out {out}" in err and len(err.splitlines()) == 1, err
    assert calls == []  # refused before the solver ran


def test_retired_result_names_are_refused(tmp_path):
    """One vocabulary of provenance keys and history columns (results.py): a solver writing an old alias
    (n_parameters, cost_err, seconds) is stopped before any file is written."""
    out = tmp_path / "r.csv"
    with pytest.raises(ValueError, match="n_parameters \\(write n_params\\)"):
        results.write_result(out, [(None, "sz", 0.1, 0.0)], {"n_parameters": 3})
    with pytest.raises(ValueError, match="cost_err \\(write cost_stderr\\)"):
        results.write_result(out, [(None, "sz", 0.1, 0.0)], {}, pd.DataFrame({"iteration": [1], "cost_err": [0.1]}))
    assert not out.exists()
