"""Seed spread of the quick chain dynamics (luo_chain_dyn of config/quick.yaml) with the connected strings
evaluated from their sample's prefix and with the full pass, against the exact curve.

Per evaluation the two paths agree to 1e-12 in float64; over a run a roundoff difference flips a sample
and the trajectories decorrelate like different seeds. This compares the two error distributions.

    python benchmarks/seed_spread_prefix.py --seeds 0 1 2 3 --mode prefix --out prefix.csv
    python benchmarks/seed_spread_prefix.py --seeds 0 1 2 3 --mode full --out full.csv

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

import lindblad_nqs.povm_solvers.costs as costs  # noqa: E402
from lindblad_nqs.methods import RunContext, get_method  # noqa: E402
from lindblad_nqs.pipeline import expand_runs  # noqa: E402
from lindblad_nqs.spec import parse_spec  # noqa: E402


def sz_curve(spec: dict) -> dict[float, float]:
    s = parse_spec(spec)
    with tempfile.TemporaryDirectory() as d:
        res = get_method(s.method).solve(s, RunContext(state_dir=Path(d)))
    return {round(float(t), 6): v for t, name, v, _ in res.rows if name == "sz"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--mode", choices=["prefix", "full"], default="prefix")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    costs.PREFIX_EVALUATION = a.mode == "prefix"
    runs = expand_runs(yaml.safe_load((ROOT / "config" / "quick.yaml").read_text()))
    exact = sz_curve(runs["luo_chain_dyn_exact"]["base"].spec)
    rows = []
    for seed in a.seeds:
        spec = copy.deepcopy(runs["luo_chain_dyn"]["base"].spec)
        spec["seed"] = seed
        spec["method"]["dtype"] = a.dtype
        for t, v in sz_curve(spec).items():
            rows.append({"mode": a.mode, "seed": seed, "t": t, "sz": v, "exact": exact[t], "error": abs(v - exact[t])})
        last = rows[-1]
        print(f"{a.mode} seed {seed}: |error| at t = {last['t']}: {last['error']:.3f}", flush=True)
        pd.DataFrame(rows).to_csv(a.out, index=False)  # after every seed: a long study can be stopped
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
