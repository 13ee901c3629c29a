"""A corrupted checkpoint in a run's state dir is refused through the CLI with one line naming the file,
exit 2 and no result, never loaded in part (issue 16, item 6): the NumPy checkpoints of rbm_tdvp,
rnn_tdvp and cnn (the Transformer's torch files: test_reliability_checkpoint.py)."""

import pytest
import yaml

from lindblad_nqs.cli import main
from test_divergence import SPECS


def _solve(tmp_path, method):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPECS[method]))
    out = tmp_path / "result.csv"
    return main(["solve", str(spec), "--out", str(out), "--state-dir", str(tmp_path / "state")]), out


@pytest.mark.parametrize("method", ["rbm_tdvp", "rnn_tdvp", "cnn"])
@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", bytes(range(256)) * 4])
def test_corrupt_checkpoint_refused_naming_the_file(tmp_path, capsys, method, content):
    (tmp_path / "state").mkdir()
    (tmp_path / "state/checkpoint.npz").write_bytes(content)
    rc, out = _solve(tmp_path, method)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "checkpoint.npz is corrupt" in err[0], err
    assert not out.exists()


def test_truncated_real_checkpoint_refused(tmp_path, capsys):
    """A checkpoint cut short (a full disk, a copy interrupted): refused, and the run's own file kept."""
    rc, out = _solve(tmp_path, "rbm_tdvp")
    ck = tmp_path / "state/checkpoint.npz"
    assert rc == 0 and ck.is_file()
    data = ck.read_bytes()
    ck.write_bytes(data[: len(data) // 2])
    out.unlink()
    capsys.readouterr()
    rc, out = _solve(tmp_path, "rbm_tdvp")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and f"{ck} is corrupt" in err[0], err
    assert not out.exists() and ck.stat().st_size == len(data) // 2
