import os

# Tests measure physics, not parallel speed-ups; keep BLAS from oversubscribing the 2 CI cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def pytest_configure(config):
    """Each pytest-xdist worker's XLA pool gets one thread, as each solve job of the DAG does: with a
    pool per core in every worker, the workers' jitted code oversubscribes the cores."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        from lindblad_nqs.threads import start_jax

        start_jax(1)


def solve_cli(tmp_path, spec: dict, name: str, state=None):
    """Run `lindblad-nqs solve` on a spec dict; the result table and history as DataFrames."""
    import pandas as pd
    import yaml

    from lindblad_nqs.cli import main

    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(spec))
    out = tmp_path / name / "result.csv"
    args = ["solve", str(p), "--out", str(out)] + (["--state-dir", str(state)] if state else [])
    assert main(args) == 0
    return pd.read_csv(out), pd.read_csv(out.with_suffix(".history.csv"))


def solve_point(root, run: str, point: str, spec: dict):
    """`lindblad-nqs solve` of a spec as the pipeline lays it out: root/results/runs/RUN/POINT/result.csv."""
    import yaml

    from lindblad_nqs.cli import main

    spec = dict(spec, notes={"run": run, "point": point})
    d = root / "results" / "runs" / run / point
    d.mkdir(parents=True)
    (d / "spec.yaml").write_text(yaml.safe_dump(spec))
    assert main(["solve", str(d / "spec.yaml"), "--out", str(d / "result.csv")]) == 0
    return d / "result.csv"


def assert_resume_equals_uninterrupted(tmp_path, spec: dict, full, hfull, t_stop: float):
    """A run stopped at t_stop (a save time) and continued in the same state dir ends with the same
    result table, and the same history apart from wall times, as the uninterrupted (full, hfull)."""
    import pandas as pd

    short = dict(spec, task=dict(spec["task"], t_final=t_stop))
    solve_cli(tmp_path, short, "part", state=tmp_path / "state")
    resumed, hres = solve_cli(tmp_path, spec, "resumed", state=tmp_path / "state")
    pd.testing.assert_frame_equal(full, resumed)
    cols = [c for c in hfull.columns if c != "time_s"]
    pd.testing.assert_frame_equal(hfull[cols], hres[cols])
