"""Seed spread of the quick chain dynamics (luo_chain_dyn of config/quick.yaml) with the connected strings
evaluated from their sample's prefix and with the full pass, against the exact curve.

Per evaluation the two paths agree to 1e-12 in float64; over a run a roundoff difference flips a sample
and the trajectories decorrelate like different seeds. This compares the two error distributions.

    python benchmarks/seed_spread_prefix.py --seeds 0 1 2 3 --mode prefix --out prefix.csv
    python benchmarks/seed_spread_prefix.py --seeds 0 1 2 3 --mode full --out full.csv
    python benchmarks/seed_spread_prefix.py --summarise prefix.csv full.csv   # the table of the README

Columns: mode, seed, t, sz (network), exact, error.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lindblad_nqs.methods import RunContext, get_method  # noqa: E402
from lindblad_nqs.pipeline import expand_runs  # noqa: E402
from lindblad_nqs.spec import parse_spec  # noqa: E402


def sz_curve(spec: dict) -> dict[float, float]:
    s = parse_spec(spec)
    with tempfile.TemporaryDirectory() as d:
        res = get_method(s.method).solve(s, RunContext(state_dir=Path(d)))
    return {round(float(t), 6): v for t, name, v, _ in res.rows if name == "sz"}


def summarise(paths: list[str]) -> pd.DataFrame:
    """Mean signed error of sz per mode and time, and the difference of the modes with its standard error,
    as independent samples (the two standard errors in quadrature) and paired by seed."""
    df = pd.concat([pd.read_csv(p) for p in paths]).drop_duplicates(["mode", "seed", "t"])
    df["signed"] = df["sz"] - df["exact"]
    g = df.groupby(["t", "mode"])["signed"].agg(["mean", "sem", "count"]).unstack("mode")
    out = pd.DataFrame({"seeds_prefix": g["count"]["prefix"], "prefix": g["mean"]["prefix"],
                        "seeds_full": g["count"]["full"], "full": g["mean"]["full"],
                        "difference": g["mean"]["prefix"] - g["mean"]["full"],
                        "stderr": (g["sem"]["prefix"] ** 2 + g["sem"]["full"] ** 2) ** 0.5})
    out["sigmas"] = out["difference"] / out["stderr"]
    # the same seed in both modes starts alike and parts later: the paired differences use that
    pair = df.pivot_table(index=["t", "seed"], columns="mode", values="signed").dropna()
    d = (pair["prefix"] - pair["full"]).groupby("t")
    out["paired_stderr"] = d.sem()
    out["paired_sigmas"] = d.mean() / d.sem()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--summarise", nargs="+", metavar="CSV", help="print the table of finished runs and exit")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--mode", choices=["prefix", "full"], default="prefix")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--samples", type=int, help="samples per inner iteration (default: the quick config's)")
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.summarise:
        print(summarise(a.summarise).round(4).to_string())
        return 0
    if not a.out:
        ap.error("--out is required for a run")
    runs = expand_runs(yaml.safe_load((ROOT / "config" / "quick.yaml").read_text()))
    exact = sz_curve(runs["luo_chain_dyn_exact"]["base"].spec)
    rows = []
    for seed in a.seeds:
        spec = copy.deepcopy(runs["luo_chain_dyn"]["base"].spec)
        spec["seed"] = seed
        spec["method"]["dtype"] = a.dtype
        spec["method"]["prefix"] = a.mode == "prefix"
        if a.samples:
            spec["method"]["samples"] = a.samples
        for t, v in sz_curve(spec).items():
            rows.append({"mode": a.mode, "seed": seed, "t": t, "sz": v, "exact": exact[t], "error": abs(v - exact[t])})
        last = rows[-1]
        print(f"{a.mode} seed {seed}: |error| at t = {last['t']}: {last['error']:.3f}", flush=True)
        pd.DataFrame(rows).to_csv(a.out, index=False)  # after every seed: a long study can be stopped
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
