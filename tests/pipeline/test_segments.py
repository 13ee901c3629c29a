"""A long dynamics run split into segments (issue 16, item 5): `segments: K` makes K jobs with t_final at
save times, sharing one state directory; each resumes the previous one's checkpoint, and the last one's
result table equals one uninterrupted run's. And a job killed mid-run resumes when Snakemake reruns
(item 6)."""

import copy
import json
import os
import signal
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lindblad_nqs import pipeline

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
SPEC = {  # tests/vmc/test_rbm_tdvp.py's resume spec, longer
    "system": {"lattice": {"shape": [3], "boundary": "periodic"},
               "preset": {"name": "heisenberg", "Jx": 2.0, "Jy": 0.0, "Jz": 1.0, "B": 1.0}},
    "task": {"kind": "dynamics", "t_final": 0.09, "dt": 0.01, "save_every": 0.03, "initial": {"product": "x+"}},
    "method": {"name": "rbm_tdvp", "hidden": 2, "mixing": 2, "n_samples": 300, "n_chains": 20, "obs_samples": 600,
               "obs_chains": 20, "track_every": 2, "track_samples": 100, "n_discard": 20},
    "observables": ["sx", "sy", "sz"],
    "seed": 3,
}


def config(**runs):
    return {"size": "quick", "systems": {}, "figures": {},
            "runs": {name: dict(copy.deepcopy(SPEC), **extra) for name, extra in runs.items()}}


def test_segments_end_at_save_times_and_differ_only_in_t_final():
    cfg = config(seg={"segments": 3, "resources": {"runtime": 30}})
    p = pipeline.checked_runs(cfg)["seg"]["base"]
    assert p.segments == (0.03, 0.06)
    assert p.resources == {"runtime": 30, "mem_mb": pipeline.DEFAULT_RESOURCES["mem_mb"]}
    for k, t in enumerate(p.segments, 1):
        s = p.segment_spec(k)
        assert s["task"]["t_final"] == t and s["notes"]["segment"] == k
        s["task"]["t_final"], s["notes"] = p.spec["task"]["t_final"], p.spec["notes"]
        assert s == p.spec
    assert p.previous_result() == ["results/runs/seg/base/segments/2/result.csv"]
    assert p.previous_result(2) == ["results/runs/seg/base/segments/1/result.csv"]
    assert p.previous_result(1) == []
    # more segments than save times (0.03, 0.06, 0.09) cannot each end at a checkpoint
    assert pipeline.segment_times("r", SPEC["task"], 3) == (0.03, 0.06)
    with pytest.raises(pipeline.ConfigError, match="segments .4. must not exceed the number of save times .3."):
        pipeline.checked_runs(config(seg={"segments": 4}))


@pytest.mark.parametrize("edit, message", [
    (lambda r: r.update(method={"name": "exact"}), "segments need a method whose checkpoint continues"),
    (lambda r: r.update(task={"kind": "steady"}, method={"name": "exact"}), "segments need a dynamics task"),
])
def test_segments_refused_where_a_segment_would_not_resume(edit, message):
    cfg = config(seg={"segments": 2})
    edit(cfg["runs"]["seg"])
    with pytest.raises(pipeline.ConfigError, match=message):
        pipeline.checked_runs(cfg)


def test_transformer_dynamics_continues_a_shorter_run_to_the_same_result(tmp_path):
    """A longer t_final continues the shorter run's finished checkpoint (what a segment does) and ends with
    the uninterrupted run's table and history; a shorter t_final does not take a longer run's state."""
    pytest.importorskip("torch")
    from conftest import solve_cli

    spec = {"system": {"lattice": {"shape": [2], "boundary": "periodic"}, "couplings": {"Jz": 0.5},
                       "field": {"hx": 0.5}, "jumps": [{"op": "sigma_minus", "rate": 1.0}]},
            "task": {"kind": "dynamics", "t_final": 0.08, "dt": 0.02, "save_every": 0.02, "initial": {"product": "z+"}},
            "method": {"name": "transformer", "samples": 16, "eval_samples": 16, "n_layers": 1, "d_model": 8,
                       "n_heads": 2, "d_ff": 8, "inner_max": 2, "device": "cpu"},
            "observables": ["sz"], "seed": 0}
    short = copy.deepcopy(spec)
    short["task"]["t_final"] = 0.04
    solve_cli(tmp_path, short, "short", state=tmp_path / "state")
    solve_cli(tmp_path, spec, "long", state=tmp_path / "state")
    solve_cli(tmp_path, spec, "fresh", state=tmp_path / "fresh_state")
    info = json.loads((tmp_path / "long" / "result.json").read_text())
    assert [r["resumed_from"]["step"] for r in info["per_run"]] == [2], info["per_run"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "long" / "result.csv"),
                                  pd.read_csv(tmp_path / "fresh" / "result.csv"))
    h_long, h_fresh = (pd.read_csv(tmp_path / d / "result.history.csv").drop(columns="time_s")
                       for d in ("long", "fresh"))
    pd.testing.assert_frame_equal(h_long, h_fresh)
    solve_cli(tmp_path, short, "short_again", state=tmp_path / "state")  # the 0.08 state is not reused
    again = json.loads((tmp_path / "short_again" / "result.json").read_text())
    assert [r["resumed_from"] for r in again["per_run"]] == [None]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "short_again" / "result.csv"),
                                  pd.read_csv(tmp_path / "short" / "result.csv"))
    assert "transformer" in pipeline.SEGMENTABLE


def _snakemake(cwd, *args, timeout=600):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([str(SNAKEMAKE), "--cores", "1", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _workflow(tmp_path, cfg):
    shutil.copytree(ROOT / "workflow", tmp_path / "workflow")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "quick.yaml").write_text(yaml.safe_dump(cfg))


def _history(path):
    h = pd.read_csv(path)
    return h[[c for c in h.columns if c != "time_s"]]


@pytest.mark.skipif(not SNAKEMAKE.exists(), reason="snakemake not installed beside the interpreter")
def test_segmented_run_equals_the_uninterrupted_one(tmp_path):
    _workflow(tmp_path, config(seg={"segments": 3}, whole={}))
    out = _snakemake(tmp_path, "-n")
    assert "solve_segment" in out
    _snakemake(tmp_path)
    seg, whole = tmp_path / "results/runs/seg/base", tmp_path / "results/runs/whole/base"
    pd.testing.assert_frame_equal(pd.read_csv(seg / "result.csv"), pd.read_csv(whole / "result.csv"))
    pd.testing.assert_frame_equal(_history(seg / "result.history.csv"), _history(whole / "result.history.csv"))
    # each job continued the one before: segment 2 from t = 0.03, the last job from t = 0.06
    for where, t in ((seg / "segments/2", 0.03), (seg, 0.06)):
        info = json.loads((where / "result.json").read_text())
        assert json.dumps(info).count("resumed_from") and abs(_resumed_t(info) - t) < 1e-9, info
    assert set(pd.read_csv(seg / "segments/1/result.csv").t.dropna()) == {0.0, 0.03}
    assert "Nothing to be done" in _snakemake(tmp_path, "-n")


def _resumed_t(info):
    """resumed_from_t wherever the provenance keeps it."""
    stack = [info]
    while stack:
        d = stack.pop()
        if isinstance(d, dict):
            if d.get("resumed_from_t") is not None:
                return float(d["resumed_from_t"])
            stack += list(d.values())
        elif isinstance(d, list):
            stack += d
    return float("nan")


def _checkpoint_t(path):
    """The time of the checkpoint in path (0 when there is none yet)."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as d:
            return json.loads(str(d["__meta__"]))["t"]
    except (OSError, ValueError, KeyError):
        return 0.0


def _solve_processes(pgid):
    """pids of the `lindblad_nqs solve` jobs in a process group (Snakemake's children)."""
    pids = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and os.getpgid(int(d.name)) == pgid:
                cmd = (d / "cmdline").read_bytes().split(b"\0")
                if b"lindblad_nqs" in cmd and b"solve" in cmd:
                    pids.append(int(d.name))
        except (OSError, ProcessLookupError):
            pass
    return pids


@pytest.mark.skipif(not SNAKEMAKE.exists() or not Path("/proc").is_dir(), reason="needs snakemake and /proc")
def test_killed_job_resumes_on_rerun_with_the_uninterrupted_result(tmp_path):
    """A solve job killed (SIGKILL, as a node failure or a scheduler's time limit leaves it) after its
    first checkpoint: Snakemake reports the job failed and removes its outputs; a rerun resumes from the
    checkpoint and ends with the uninterrupted run's tables."""
    cfg = config(run={})
    cfg["runs"]["run"]["task"] = dict(SPEC["task"], t_final=0.3)
    _workflow(tmp_path / "a", cfg)
    _workflow(tmp_path / "b", cfg)
    _snakemake(tmp_path / "a")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen([str(SNAKEMAKE), "--cores", "1"], cwd=tmp_path / "b", env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    state = tmp_path / "b/results/runs/run/base/state"
    deadline = time.time() + 300
    while _checkpoint_t(state / "checkpoint.npz") <= 0 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    jobs = _solve_processes(proc.pid)
    assert proc.poll() is None and jobs, "the run ended before a checkpoint could be interrupted"
    for pid in jobs:
        os.kill(pid, signal.SIGKILL)
    assert proc.wait(timeout=120) != 0  # the job failed
    res = tmp_path / "b/results/runs/run/base/result.csv"
    assert not res.exists()
    _snakemake(tmp_path / "b")
    a = tmp_path / "a/results/runs/run/base"
    pd.testing.assert_frame_equal(pd.read_csv(a / "result.csv"), pd.read_csv(res))
    pd.testing.assert_frame_equal(_history(a / "result.history.csv"), _history(res.with_suffix(".history.csv")))
    assert _resumed_t(json.loads(res.with_suffix(".json").read_text())) > 0  # it did resume, not restart
