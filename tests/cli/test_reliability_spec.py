"""No silent wrong answer, on the input side: strict specs, `validate` running the checks of `solve`,
and size limits before any allocation (issue 13, items 3 and 4)."""

import tracemalloc

import pytest

from lindblad_nqs.cli import main
from lindblad_nqs.spec import SpecError, parse_spec

GOOD = """\
system:
  lattice: {shape: [3], boundary: periodic}
  couplings: {Jx: 0.9, Jy: 1.8, Jz: 1.0}
  jumps: [{op: sigma_minus, rate: 1.0}]
task:
  kind: steady
method:
  name: exact
observables: [sx, sz]
"""
DYN = GOOD.replace("kind: steady", "kind: dynamics\n  t_final: 1.0\n  dt: 0.1\n  save_every: 0.2")
MCWF = DYN.replace("name: exact", "name: mcwf\n  ntraj: 5")
TRANSFORMER = GOOD.replace("name: exact", "name: transformer")

BAD = {
    # the last of two keys won silently: this spec ran cnn
    "duplicate key": (GOOD.replace("  name: exact\n", "  name: exact\nmethod:\n  name: cnn\n"),
                      "duplicate key 'method' at line 9 (first at line 7)"),
    "duplicate nested key": (GOOD.replace("Jz: 1.0}", "Jz: 1.0, Jx: 2.0}"), "duplicate key 'Jx'"),
    "nan coupling": (GOOD.replace("Jz: 1.0", "Jz: .nan"), "system.couplings.Jz must be a finite number"),
    "inf rate": (GOOD.replace("rate: 1.0", "rate: .inf"), "system.jumps[0].rate must be a finite number"),
    "inf t_final": (DYN.replace("t_final: 1.0", "t_final: .inf"), "task.t_final must be a finite number"),
    "ntraj 0": (MCWF.replace("ntraj: 5", "ntraj: 0"), "method.ntraj must be a positive integer"),
    "ntraj negative": (MCWF.replace("ntraj: 5", "ntraj: -3"), "method.ntraj must be a positive integer"),
    "duplicate observable": (GOOD.replace("[sx, sz]", "[sx, sz, sx]"), "observable 'sx' is listed twice"),
    # the time grid stopped short of t_final (or ran past it)
    "t_final off the grid": (DYN.replace("t_final: 1.0", "t_final: 0.9"),
                             "task.t_final (0.9) must be a multiple of task.save_every (0.2)"),
    "YAML 1.1 float": (GOOD.replace("rate: 1.0", "rate: 1e3"), "write 1.0e+3"),
    "YAML 1.1 float in a method key": (TRANSFORMER.replace("name: transformer", "name: transformer\n  lr: 1e-3"),
                                       "method.lr must be a number, got '1e-3' (YAML 1.1 reads 1e-3 as a string: "
                                       "write 1.0e-3)"),
}


def _write(tmp_path, text, name="spec.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _one_line(capsys, expected):
    err = capsys.readouterr().err.strip()
    assert expected in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("case", sorted(BAD))
def test_strict_spec_refused_by_solve_and_validate(tmp_path, capsys, case):
    text, expected = BAD[case]
    spec = _write(tmp_path, text)
    out = tmp_path / "out" / "result.csv"
    assert main(["solve", str(spec), "--out", str(out)]) == 2
    _one_line(capsys, expected)
    assert not out.exists() and not out.with_suffix(".json").exists()
    assert main(["validate", str(spec)]) == 2
    _one_line(capsys, expected)


@pytest.mark.parametrize("command", ["solve", "validate"])
@pytest.mark.parametrize("threads", ["0", "-2"])
def test_threads_below_one_refused(tmp_path, capsys, command, threads):
    spec = _write(tmp_path, GOOD)
    out = tmp_path / "r.csv"
    args = [command, str(spec), "--threads", threads] + (["--out", str(out)] if command == "solve" else [])
    assert main(args) == 2
    _one_line(capsys, f"--threads must be at least 1, got {threads}")
    assert not out.exists()


@pytest.mark.parametrize("content, expected", [
    (b"\x7fELF\x02\x01\x01\x00\x00\x00", "is a binary file, not YAML text"),
    (GOOD.encode() + b"notes: caf\xe9\n", "is not UTF-8 text"),
])
def test_binary_or_non_utf8_spec_refused(tmp_path, capsys, content, expected):
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(content)
    assert main(["validate", str(spec)]) == 2
    _one_line(capsys, expected)


@pytest.mark.parametrize("text, expected", [
    (TRANSFORMER.replace("name: transformer", "name: transformer\n  povm: octahedral"), "method.povm must be tetrahedral or pauli4"),
    (TRANSFORMER.replace("name: transformer", "name: transformer\n  d_model: 6\n  n_heads: 4"),
     "must be a multiple of method.n_heads"),
    (GOOD.replace("name: exact", "name: cnn\n  optimizer: lbfgs"), "method.optimizer must be one of"),
    (GOOD.replace("name: exact", "name: exact\n  solver: dense"), "method.solver must be sector or qutip"),
])
def test_validate_runs_the_method_checks(tmp_path, capsys, text, expected):
    """`validate` said ok to specs that `solve` then refused (checks of the method's own keys)."""
    assert main(["validate", str(_write(tmp_path, text))]) == 2
    _one_line(capsys, expected)


def test_good_specs_still_validate(tmp_path, capsys):
    for text in (GOOD, DYN, MCWF, TRANSFORMER, GOOD.replace("rate: 1.0", "rate: 1.0e+3")):
        assert main(["validate", str(_write(tmp_path, text))]) == 0, capsys.readouterr().err


# --- item 4: size limits up front --------------------------------------------------------------------
OPEN12 = GOOD.replace("shape: [3], boundary: periodic", "shape: [12], boundary: open").replace(
    "Jz: 1.0}", "Jz: 1.0}\n  field: {hx: 0.3}")
LATTICE66 = MCWF.replace("shape: [3]", "shape: [6, 6]")


@pytest.mark.parametrize("text, expected", [
    (OPEN12, "method exact on 12 sites (steady, solver sector) needs about"),  # a MemoryError after 45 s
    (OPEN12.replace("kind: steady", "kind: dynamics\n  t_final: 1.0\n  dt: 0.1"), "method exact on 12 sites"),
    (LATTICE66, "method mcwf on 36 sites with 1 process(es) needs about"),  # tried to allocate many GiB
])
def test_too_large_for_memory_refused_up_front(tmp_path, capsys, monkeypatch, text, expected):
    monkeypatch.setenv("LINDBLAD_NQS_MEMORY_GB", "16")
    spec = _write(tmp_path, text)
    assert main(["validate", str(spec)]) == 2
    err = _one_line(capsys, expected)
    assert "more than the limit of 16 GiB (LINDBLAD_NQS_MEMORY_GB=16)" in err
    out = tmp_path / "r.csv"
    assert main(["solve", str(spec), "--out", str(out)]) == 2
    _one_line(capsys, expected)
    assert not out.exists()


def test_memory_limit_follows_the_machine(tmp_path, capsys, monkeypatch):
    """The same spec fits a large machine and not a small one; without the override the limit is a
    fraction of this machine's memory, and the error says so."""
    spec = _write(tmp_path, OPEN12)
    monkeypatch.setenv("LINDBLAD_NQS_MEMORY_GB", "4096")
    assert main(["validate", str(spec)]) == 0
    capsys.readouterr()
    monkeypatch.delenv("LINDBLAD_NQS_MEMORY_GB")
    from lindblad_nqs import checks

    monkeypatch.setattr(checks, "_physical_memory", lambda: 8 * 2**30)
    assert main(["validate", str(spec)]) == 2
    _one_line(capsys, "limit of 6.4 GiB (80% of this machine's 8 GiB)")


def test_threads_count_in_the_mcwf_estimate(tmp_path, capsys, monkeypatch):
    """Each trajectory process holds its own copy of the problem."""
    from lindblad_nqs.solvers import mcwf
    from lindblad_nqs.spec import load_spec

    spec = load_spec(_write(tmp_path, MCWF.replace("shape: [3]", "shape: [4, 4]")))
    one, many = mcwf.estimated_bytes(spec, 1), mcwf.estimated_bytes(spec, 16)
    monkeypatch.setenv("LINDBLAD_NQS_MEMORY_GB", str(1.5 * one / 2**30))
    assert main(["validate", str(tmp_path / "spec.yaml")]) == 0
    assert main(["validate", str(tmp_path / "spec.yaml"), "--threads", "16"]) == 2
    _one_line(capsys, "with 16 process(es)")
    assert many > 10 * one


def test_sector_estimate_bounds_the_measured_memory():
    """The estimate is an upper bound on what building a sector allocates (7-site open chain, no
    parity: 8,320 orbits), and not absurdly above it."""
    from lindblad_nqs.exact.sector import SymmetricSector, build_bytes, estimated_dim
    from lindblad_nqs.model import Jump, Lattice, SpinSystem

    system = SpinSystem(Lattice((7,), False), (0.0, 0.0, 0.5), (0.5, 0.0, 0.0), (Jump("sigma_minus", 1.0),))
    tracemalloc.start()
    sec = SymmetricSector.build(system)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert estimated_dim(system) >= sec.dim >= 0.9 * estimated_dim(system)
    assert peak < build_bytes(system, sec.dim) < 5 * peak


def test_swapping_the_method_never_invalidates_a_dynamics_spec():
    """task.dt means the time one step advances for every method: a dynamics spec valid for one method is
    valid for all (a method that needs a closed system is given the same spec with gamma = 0)."""
    from lindblad_nqs.methods import discover

    base = {"system": {"lattice": {"shape": [4], "boundary": "periodic"},
                       "preset": {"name": "heisenberg", "Jx": 2.0, "Jy": 0.0, "Jz": 1.0, "B": 1.0, "gamma": 1.0}},
            "task": {"kind": "dynamics", "t_final": 0.3, "dt": 0.01, "save_every": 0.05,
                     "initial": {"product": "y-"}},
            "observables": ["sx", "sy", "sz"], "seed": 0}
    dynamics = [name for name, info in discover().items() if "dynamics" in info.tasks]
    assert {"exact", "mcwf", "transformer", "rbm_tdvp", "rnn_tdvp"} <= set(dynamics)
    for name in dynamics:
        spec = {**base, "method": {"name": name}}
        try:
            parse_spec(spec)
        except SpecError as e:
            if "dissipat" not in str(e) and "closed" not in str(e) and "unitary" not in str(e):
                raise
            closed = {**spec, "system": {**base["system"], "preset": {**base["system"]["preset"], "gamma": 0.0}}}
            parse_spec(closed)
