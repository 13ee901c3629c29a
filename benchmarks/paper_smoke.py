"""Run every neural point of a pipeline config at its full size for a few iterations, and project its cost.

This proves that the paper config runs at the papers' sizes (networks built, samplers and estimators
compiled, memory fits) without paying for the whole budget, and measures the time per iteration (per
time step for dynamics) from which the full run's cost is projected. Each point runs through the CLI
in its own process with a timeout, so one failure does not stop the rest; transfer-learning edges are
dropped (the smoke starts every point from scratch).

    python benchmarks/paper_smoke.py                       # every neural point of config/paper.yaml
    python benchmarks/paper_smoke.py --runs 'mellak_.*' --iterations 5 --out benchmarks/out/paper_smoke_mellak.csv

Columns: run, point, method, sites, status, wall_s (process, includes start-up and compilation),
per_iter_s (median of the run's per-iteration times after the first where the history has them, else
wall / iterations, an upper bound; for transformer time steps scaled from --inner to the full inner_max,
also an upper bound), full_units (iterations or time steps of the full run) and
projected_h (per_iter_s * full_units / 3600, on this machine).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lindblad_nqs.pipeline import expand_runs  # noqa: E402

NEURAL = ("cnn", "rbm_ndo", "transformer", "rbm_tdvp", "rnn_tdvp")
TDVP = ("rbm_tdvp", "rnn_tdvp")


def full_units(spec: dict) -> int:
    m, task = spec["method"], spec["task"]
    if task["kind"] == "dynamics":
        return int(round(task["t_final"] / task["dt"]))  # adaptive Heun: the steps at the first step size
    if m["name"] in TDVP:
        return int(round(m.get("steady_time", 3.0) / m.get("steady_dt", 0.005)))
    units = int(m.get("iterations", 1000 if m["name"] != "transformer" else 500))
    if m["name"] == "transformer" and m.get("dyn_time", 0) > 0:
        units += int(round(m["dyn_time"] / (2 * m["tau"])))
    return units * int(m.get("seeds", 1))


def shrink(spec: dict, k: int, inner: int) -> tuple[dict, float]:
    """The same point with a budget of k iterations (or k time steps, each of at most `inner` inner
    iterations) and small observable samples; and the factor by which a full step costs more."""
    s = copy.deepcopy(spec)
    m, task = s["method"], s["task"]
    factor = 1.0
    if m["name"] in TDVP:
        # k steps of the full-size state; the adaptive integrator keeps its first step (tol huge)
        m.update(obs_samples=min(int(m.get("obs_samples", 8000)), 2000), integrator="rk4")
        if m["name"] == "rbm_tdvp":
            m.update(track=[], exact_max_sites=0)
        if task["kind"] == "dynamics":
            task["t_final"] = task["dt"] * k
            task["save_every"] = task["t_final"]
        else:
            m["steady_time"] = m.get("steady_dt", 0.005) * k
            m["steady_save_every"] = m["steady_time"]
    elif m["name"] == "transformer":
        m["seeds"] = 1
        m["eval_samples"] = min(int(m.get("eval_samples", 4000)), 2000)
        if task["kind"] == "dynamics" or m.get("dyn_time", 0) > 0:
            full_inner = int(m.get("inner_max", 50))
            m["inner_max"] = min(full_inner, inner)
            m["inner_min"] = m["inner_max"]
            factor = full_inner / m["inner_max"]  # an upper bound: a step may converge before inner_max
        if task["kind"] == "dynamics":
            task["t_final"] = task["dt"] * k
            task["save_every"] = task["t_final"]
        else:
            m["iterations"] = k if m.get("iterations", 500) else 0
            if m.get("dyn_time", 0) > 0:
                m["dyn_time"] = 2 * m["tau"] * (k if not m["iterations"] else 1)
    else:
        m.update(iterations=k, obs_samples=min(int(m.get("obs_samples", 20000)), 2048), track_every=10**6,
                 eig_max_sites=0, checkpoint_every=10**6)
    return s, factor


def per_iteration(out_csv: Path, wall: float, k: int) -> float:
    hist = out_csv.with_name(out_csv.stem + ".history.csv")
    if hist.is_file():
        h = pd.read_csv(hist)
        if "time_s" in h.columns and len(h) > 1:
            return float(h["time_s"].iloc[1:].median())
    return wall / k


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(ROOT / "config" / "paper.yaml"))
    ap.add_argument("--runs", default=".*", help="regular expression on run names")
    ap.add_argument("--iterations", type=int, default=3, help="iterations (or time steps) per point")
    ap.add_argument("--inner", type=int, default=5,
                    help="inner iterations per transformer time step in the smoke (the projection scales them up)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per point")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--first-point-only", action="store_true", help="one point per run (sweeps share sizes)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "paper_smoke.csv"))
    a = ap.parse_args(argv)

    config = yaml.safe_load(Path(a.config).read_text())
    runs = expand_runs(config)
    rows = []
    with tempfile.TemporaryDirectory(prefix="paper_smoke_") as tmp:
        for run, points in runs.items():
            if not re.fullmatch(a.runs, run):
                continue
            for i, (label, pt) in enumerate(points.items()):
                if pt.spec["method"]["name"] not in NEURAL or (a.first_point_only and i):
                    continue
                spec, factor = shrink(pt.spec, a.iterations, a.inner)
                d = Path(tmp) / run / label
                d.mkdir(parents=True)
                (d / "spec.yaml").write_text(yaml.safe_dump(spec))
                out = d / "result.csv"
                cmd = [sys.executable, "-m", "lindblad_nqs", "solve", str(d / "spec.yaml"), "--out", str(out),
                       "--threads", str(a.threads)]
                t0 = time.perf_counter()
                try:
                    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout)
                    status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}"
                except subprocess.TimeoutExpired:
                    status = f"timeout {a.timeout}s"
                wall = time.perf_counter() - t0
                dims = pt.spec["system"]["lattice"]["shape"]
                sites = 1
                for v in dims:
                    sites *= v
                per_it = factor * per_iteration(out, wall, a.iterations) if status == "ok" else float("nan")
                units = full_units(pt.spec)
                row = {"run": run, "point": label, "method": pt.spec["method"]["name"], "sites": sites,
                       "status": status, "wall_s": round(wall, 1), "per_iter_s": per_it, "full_units": units,
                       "projected_h": per_it * units / 3600}
                if status == "ok":
                    prov = json.loads(out.with_suffix(".json").read_text())
                    row["n_params"] = prov.get("n_params")
                rows.append(row)
                print(json.dumps(row), flush=True)
    if not rows:
        print(f"no neural run of {a.config} matches --runs {a.runs!r} (a full match of the run name)", file=sys.stderr)
        return 2
    df = pd.DataFrame(rows)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(a.out, index=False)
    ok = (df.status == "ok").sum() if len(df) else 0
    print(f"{ok}/{len(df)} points ran; projected total {df.projected_h.sum():.1f} h on this machine -> {a.out}")
    return 0 if ok == len(df) else 1


if __name__ == "__main__":
    raise SystemExit(main())
