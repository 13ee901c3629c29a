"""The run-spec CLI: results on disk, and every bad spec rejected with one clear line and no output."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from lindblad_nqs.cli import main

GOOD = """\
system:
  lattice: {shape: [3], boundary: periodic}
  couplings: {Jx: 0.9, Jy: 1.8, Jz: 1.0}
  field: {hx: 0.0, hy: 0.0, hz: 0.0}
  jumps: [{op: sigma_minus, rate: 1.0}]
task:
  kind: steady
method:
  name: exact
observables: [sx, sy, sz, "szsz:1", "szsz_c:1", "sxsx:0,2"]
seed: 0
"""


def write(tmp_path, text, name="spec.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_solve_writes_table_and_provenance(tmp_path):
    spec = write(tmp_path, GOOD)
    out = tmp_path / "res" / "result.csv"
    assert main(["solve", str(spec), "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["t", "observable", "value", "stderr"]
    assert df["t"].isna().all() and (df["stderr"] == 0).all()
    assert list(df["observable"]) == ["sx", "sy", "sz", "szsz:1", "szsz_c:1", "sxsx:0,2"]
    prov = json.loads(out.with_suffix(".json").read_text())
    assert prov["spec"]["method"] == {"name": "exact", "solver": "sector", "integrator": "expm", "save_rho": False}
    assert prov["relative_residual"] < 1e-10 and len(prov["spec_hash"]) == 16
    assert "qutip" in prov["versions"] and prov["wall_time_s"] > 0


def test_dynamics_rows_per_time(tmp_path):
    spec = write(tmp_path, GOOD.replace("kind: steady", "kind: dynamics\n  t_final: 0.5\n  dt: 0.01\n"
                                        "  save_every: 0.1\n  initial: {product: y-}"))
    out = tmp_path / "d.csv"
    assert main(["solve", str(spec), "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert sorted(df["t"].unique()) == pytest.approx([0, 0.1, 0.2, 0.3, 0.4, 0.5])
    t0 = df[df.t == 0].set_index("observable")["value"]
    assert t0["sy"] == pytest.approx(-1) and t0["sx"] == pytest.approx(0, abs=1e-12)
    assert t0["szsz_c:1"] == pytest.approx(0, abs=1e-12)


BAD = {
    "unknown jump": (GOOD.replace("sigma_minus", "sigma_q"), "unknown jump operator system.jumps[0].op"),
    "negative rate": (GOOD.replace("rate: 1.0", "rate: -1.0"), "system.jumps[0].rate must be >= 0"),
    "non-numeric rate": (GOOD.replace("rate: 1.0", "rate: fast"), "system.jumps[0].rate must be a number"),
    "unknown method": (GOOD.replace("name: exact", "name: dmrg"), "unknown method.name 'dmrg'"),
    "unknown observable": (GOOD.replace("sx, sy", "sq, sy"), "unknown observable 'sq'"),
    "observable distance": (GOOD.replace('"szsz:1"', '"szsz:0"'), "no site pairs at distance 0"),
    "malformed yaml": ("system: [1, 2\ntask: {", "malformed YAML"),
    "missing lattice": (GOOD.replace("  lattice: {shape: [3], boundary: periodic}\n", ""), "system.lattice is missing"),
    "bad boundary": (GOOD.replace("boundary: periodic", "boundary: twisted"), "periodic or open"),
    "bad shape": (GOOD.replace("shape: [3]", "shape: [3, 0]"), "system.lattice.shape"),
    "unknown key": (GOOD.replace("seed: 0", "sede: 0"), "unknown key spec.sede"),
    "unknown method key": (GOOD.replace("name: exact", "name: exact\n  tol: 3"), "unknown key method.tol"),
    "dynamics without dt": (GOOD.replace("kind: steady", "kind: dynamics\n  t_final: 1.0"), "task.dt is missing"),
    "bad initial": (GOOD.replace("kind: steady", "kind: dynamics\n  t_final: 1.0\n  dt: 0.1\n  initial: {product: w+}"),
                    "unknown task.initial.product"),
    "task kind": (GOOD.replace("kind: steady", "kind: eternal"), "task.kind must be steady or dynamics"),
    "too large for exact": (GOOD.replace("shape: [3]", "shape: [4, 4]"), "use method mcwf"),
    "not a mapping": ("- 1\n- 2\n", "must be a YAML mapping"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_spec_one_line_error_no_output(tmp_path, capsys, case):
    text, expected = BAD[case]
    spec = write(tmp_path, text)
    out = tmp_path / "out" / "result.csv"
    assert main(["solve", str(spec), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_missing_spec_file(tmp_path, capsys):
    assert main(["solve", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "r.csv")]) == 2
    assert "cannot read run spec" in capsys.readouterr().err


def test_console_entry_point_exit_code(tmp_path):
    """Through a real process: non-zero exit, message on stderr, no traceback, nothing written."""
    spec = write(tmp_path, BAD["unknown jump"][0])
    out = tmp_path / "r.csv"
    proc = subprocess.run([sys.executable, "-m", "lindblad_nqs", "solve", str(spec), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown jump operator" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_failed_solver_leaves_no_partial_output(tmp_path, monkeypatch):
    """An exception inside a solver must not leave result files behind."""
    from lindblad_nqs import methods

    spec = write(tmp_path, GOOD)
    out = tmp_path / "r.csv"
    info = methods.get_method("exact")

    def boom(spec, ctx):
        raise RuntimeError("solver crashed")

    monkeypatch.setitem(methods._REGISTRY, "exact", methods.MethodInfo("exact", boom, info.keys, info.tasks))
    with pytest.raises(RuntimeError):
        main(["solve", str(spec), "--out", str(out)])
    assert not out.exists() and not out.with_suffix(".json").exists()
    assert not any(p.name.startswith(".r.") for p in Path(tmp_path).iterdir())


def test_methods_lists_every_key_of_one_method_with_its_doc(capsys):
    from lindblad_nqs.methods import get_method

    assert main(["methods", "rnn_tdvp"]) == 0
    out = capsys.readouterr().out
    for name, key in get_method("rnn_tdvp").keys.items():
        line = next(l for l in out.splitlines() if l.strip().startswith(f"{name} = "))
        assert key.doc in line and key.allowed() in line


def test_a_reader_that_leaves_stops_the_listing_quietly(monkeypatch, capsys):
    """`lindblad-nqs methods cnn | head -1`: the pipe closes while the keys are printed; the command ends with
    the shell's status for SIGPIPE (141) and no traceback, where it raised BrokenPipeError."""

    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["methods", "cnn"]) == 141
    assert capsys.readouterr().err == ""


def test_gpu_placement_reads_the_registry():
    from lindblad_nqs import pipeline
    from lindblad_nqs.methods import discover

    for name, info in discover().items():
        point = pipeline.Point("r", "p", {"method": {"name": name}}, 1, None)
        assert pipeline.uses_gpu(point, {"device": "gpu"}) == int(info.uses_gpu)
        assert pipeline.uses_gpu(point, {}) == 0
    assert discover()["rnn_tdvp"].uses_gpu and not discover()["exact"].uses_gpu


def test_a_method_must_declare_every_key_with_a_key_table():
    from lindblad_nqs import methods

    with pytest.raises(TypeError, match="give a methods.Key for iterations"):
        methods.MethodInfo("new", lambda s, c: None, {"iterations": 100}, frozenset({"steady"}))
