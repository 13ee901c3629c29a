import os

# Tests measure physics, not parallel speed-ups; keep BLAS from oversubscribing the 2 CI cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


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
