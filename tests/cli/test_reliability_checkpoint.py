"""No checkpoint or --init-state file is unpickled: the Transformer's files are read as tensors only,
and a corrupt one is refused in one line naming it (issue 13, item 5, the torch part)."""

import pytest

torch = pytest.importorskip("torch")

from lindblad_nqs.cli import main  # noqa: E402

SPEC = """\
system:
  lattice: {shape: [2], boundary: periodic}
  couplings: {Jz: 0.5}
  field: {hx: 0.5}
  jumps: [{op: sigma_minus, rate: 1.0}]
task: {kind: steady}
method: {name: transformer, iterations: 2, samples: 16, eval_samples: 16, n_layers: 1, d_model: 8, n_heads: 2,
         d_ff: 8, device: cpu}
observables: [sz]
"""


class _Payload:
    """Unpickling this creates `marker`: a stand-in for a crafted file that runs a shell command."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def spec(tmp_path):
    p = tmp_path / "spec.yaml"
    p.write_text(SPEC)
    return p


def _refused(capsys, out, name):
    err = capsys.readouterr().err.strip()
    assert name in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not out.exists()


@pytest.mark.parametrize("where", ["state dir", "init state"])
def test_crafted_file_is_not_unpickled(tmp_path, spec, capsys, where):
    marker = tmp_path / "pwned"
    d = tmp_path / "d"
    d.mkdir()
    name = "run0.ckpt.pt" if where == "state dir" else "model_run0.pt"
    torch.save({"spec_hash": _Payload(marker), "model": {}}, d / name)
    out = tmp_path / "result.csv"
    args = ["solve", str(spec), "--out", str(out)]
    args += ["--state-dir", str(d)] if where == "state dir" else ["--init-state", str(d), "--state-dir", str(tmp_path / "s")]
    assert main(args) == 2
    assert not marker.exists(), "the checkpoint ran code"
    _refused(capsys, out, str(d / name))


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", bytes(range(256)) * 4])
def test_corrupt_checkpoint_refused_naming_the_file(tmp_path, spec, capsys, content):
    d = tmp_path / "state"
    d.mkdir()
    (d / "run0.ckpt.pt").write_bytes(content)
    out = tmp_path / "result.csv"
    assert main(["solve", str(spec), "--out", str(out), "--state-dir", str(d)]) == 2
    _refused(capsys, out, "run0.ckpt.pt is corrupt")


def test_init_state_that_is_not_a_model_refused(tmp_path, spec, capsys):
    d = tmp_path / "init"
    d.mkdir()
    torch.save([1, 2, 3], d / "model_run0.pt")
    out = tmp_path / "result.csv"
    assert main(["solve", str(spec), "--out", str(out), "--init-state", str(d), "--state-dir", str(tmp_path / "s")]) == 2
    _refused(capsys, out, "model_run0.pt is not a checkpoint of this program")


def test_real_checkpoint_still_resumes(tmp_path, spec, monkeypatch):
    """The tensors-only reader accepts what the solver writes: an interrupted run resumes from it."""
    from lindblad_nqs.povm_solvers import training

    d = tmp_path / "state"
    orig = training.POVMTrainer.steady_iteration
    calls = []

    def interrupted(self, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return orig(self, *a, **k)

    monkeypatch.setattr(training.POVMTrainer, "steady_iteration", interrupted)
    text = SPEC.replace("iterations: 2", "iterations: 3, checkpoint_every: 1")
    (tmp_path / "spec.yaml").write_text(text)
    out = tmp_path / "result.csv"
    assert main(["solve", str(spec), "--out", str(out), "--state-dir", str(d)]) == 130
    assert (d / "run0.ckpt.pt").exists()
    monkeypatch.setattr(training.POVMTrainer, "steady_iteration", orig)
    assert main(["solve", str(spec), "--out", str(out), "--state-dir", str(d)]) == 0
    assert out.exists() and not (d / "run0.ckpt.pt").exists()
