"""luo2022's trapezoid inner loop: accuracy of the Transformer dynamics against exact dynamics, and the
inner iterations it costs, for several inner budgets (inner_max, the rate decayed 3e-3 -> 3e-4 over it)
and for the stopping rule with and without the Monte Carlo noise floor (method.inner_window).

Cases:
  quick   the quick config's luo_chain_dyn (4-site ring) and luo_square_dyn (2x2, Jy = 1.0 and 1.8),
          their specs as the pipeline builds them, only the inner-loop keys varied;
  n10     luo2022 Fig. 2(a)'s chain at N = 10 (periodic, B = 1, J = (2, 0, 1), sigma^- decay 1, from y-),
          dt = 0.01 (the paper's tau = 0.005), --t-final and --samples given here (the paper: 12000).

  trace   --trace-steps trapezoid steps of the n10 chain with the full budget (old rule, inner_max 100), every
          inner cost and stderr recorded; the noise-floor rule applied afterwards to these sequences says
          where it would have stopped each step (windows --windows): the rule's iteration count at a size
          whose full dynamics is too costly for this CPU, without its accuracy.

Each variant runs once per seed in this process, one after the other (the machine is loaded: compare
inner iterations and deviations, and wall-time ratios only within one run). Prints a table and writes
one CSV row per (case, point, seed, variant) to --out.

    python benchmarks/luo_inner_loop.py --case quick --out benchmarks/records/luo_inner_loop_quick.csv
    python benchmarks/luo_inner_loop.py --case n10 --t-final 0.1 --samples 1000 \
        --out benchmarks/records/luo_inner_loop_n10.csv
    python benchmarks/luo_inner_loop.py --summarise benchmarks/records/luo_inner_loop_quick*.csv
    python benchmarks/luo_inner_loop.py --case trace --samples 2000 --trace-steps 2 \
        --out benchmarks/records/luo_inner_loop_trace_n10.csv
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from lindblad_nqs.methods import RunContext, get_method
from lindblad_nqs.pipeline import expand_runs
from lindblad_nqs.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]
SCHEDULE = {"inner_tol": 0.01, "dyn_lr": 0.003, "dyn_lr_final": 0.0003, "warm_start": "extrapolate"}
VARIANTS = {  # name: inner-loop keys over the schedule (old: tol or max_iter; new: + the noise floor)
    "old-10": {"inner_max": 10, "inner_window": 0},
    "old-30": {"inner_max": 30, "inner_window": 0},
    "old-100": {"inner_max": 100, "inner_window": 0},
    "new-100 (w10)": {"inner_max": 100, "inner_window": 10, "inner_noise": 1.0},
    "new-100 (w5)": {"inner_max": 100, "inner_window": 5, "inner_noise": 1.0},
}


def quick_specs() -> dict[str, dict]:
    config = yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())
    runs = expand_runs(config)
    out = {}
    for run in ("luo_chain_dyn", "luo_square_dyn"):
        for point, p in runs[run].items():
            out[f"{run}/{point}"] = p.spec
    return out


def n10_spec(t_final: float, samples: int) -> dict:
    return {"system": {"lattice": {"shape": [10], "boundary": "periodic"},
                       "preset": {"name": "heisenberg", "Jx": 2.0, "Jy": 0.0, "Jz": 1.0, "B": 1.0, "gamma": 1.0}},
            "task": {"kind": "dynamics", "t_final": t_final, "dt": 0.01, "save_every": round(t_final / 2, 10),
                     "initial": {"product": "y-"}},
            "method": {"name": "transformer", "samples": samples, "eval_samples": 4000, "inner_max": 100, **SCHEDULE},
            "observables": ["sx", "sy", "sz"], "seed": 0}


def exact_values(raw: dict) -> dict:
    spec = parse_spec({**raw, "method": {"name": "exact"}})
    res = get_method("exact").solve(spec, RunContext(state_dir=None))
    return {(round(r[0], 9), r[1]): r[2] for r in res.rows}


def run_variant(raw: dict, keys: dict, seed: int) -> dict:
    raw = copy.deepcopy(raw)
    raw["method"] = {**raw["method"], **SCHEDULE, **keys}
    raw["seed"] = seed
    spec = parse_spec(raw)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        res = get_method("transformer").solve(spec, RunContext(state_dir=Path(d), threads=1))
        wall = time.perf_counter() - t0
    h = res.history
    return {"rows": res.rows, "wall_s": wall, "inner_total": int(h.inner_iterations.sum()),
            "steps": len(h), "reasons": h.stop_reason.value_counts().to_dict()}


def trace(raw: dict, steps: int, windows: list[int], noise: float, out: Path) -> int:
    """Inner costs of `steps` full-budget steps, and where inner_stop_reason would have stopped each."""
    import lindblad_nqs.povm_solvers.training as tr

    raw = copy.deepcopy(raw)
    dt = raw["task"]["dt"]
    raw["task"] |= {"t_final": round(steps * dt, 10), "save_every": round(steps * dt, 10)}
    raw["method"] |= {"inner_max": 100, "inner_window": 0, "eval_samples": 1000}
    costs, per_step, times = [], [], []
    orig_cost, orig_step = tr.trapezoid_cost, tr.POVMTrainer.trapezoid_step

    def cost(*a, **k):
        r = orig_cost(*a, **k)
        costs.append((r.value, r.stderr))
        return r

    def step(self, *a, **k):
        costs.clear()
        t0 = time.perf_counter()
        rec = orig_step(self, *a, **k)
        times.append(time.perf_counter() - t0)
        per_step.append(list(costs))
        return rec

    tr.trapezoid_cost, tr.POVMTrainer.trapezoid_step = cost, step
    try:
        with tempfile.TemporaryDirectory() as d:
            get_method("transformer").solve(parse_spec(raw), RunContext(state_dir=Path(d), threads=1))
    finally:
        tr.trapezoid_cost, tr.POVMTrainer.trapezoid_step = orig_cost, orig_step
    rows = []
    for k, seq in enumerate(per_step):
        c, e = [x[0] for x in seq], [x[1] for x in seq]
        for n, (ci, ei) in enumerate(seq, 1):
            rows.append({"step": k + 1, "iteration": n, "cost": ci, "stderr": ei})
        stops = {}
        for w in windows:
            stops[w] = next(n for n in range(1, len(c) + 1)
                            if tr.inner_stop_reason(c[:n], e[:n], dt, 0.01, 100, 3, w, noise) is not None)
        print(f"step {k + 1}: {times[k]:.1f} s for 100 inner iterations ({times[k] / 100:.2f} s each), cost "
              f"{c[0]:.4g} -> {np.mean(c[-3:]):.4g} (stderr {np.mean(e):.2g}); noise-floor rule (noise {noise}) "
              "would stop at " + ", ".join(f"{n} (window {w})" for w, n in stops.items()), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out, index=False)
    return 0


# luo2022's paper config on one H200 (section "On one NVIDIA H200" of benchmarks/README.md): 280 GPU-hours,
# of which the trapezoid dynamics (every step at 100 inner iterations, per-step GPU seconds of the smoked
# points, the unsmoked ones bounded by their siblings) 273: chain40 162.4, chain 6.3, square 7.3,
# square dyn/vardyn 1x32 43.5, 2x64 51.3, S1 1.5, S3/S4 0.5
PAPER_TOTAL_H, PAPER_DYN_H, PAPER_INNER = 280.0, 273.0, 100


def summarise(paths: list[Path]) -> pd.DataFrame:
    """Per variant over seeds: inner iterations per step, deviations, and the projected paper-config cost
    if every dynamics step took that mean number of inner iterations (time proportional to them)."""
    df = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    g = df.groupby(["point", "variant"], sort=False)
    out = g.agg(seeds=("seed", "nunique"), inner_mean=("inner_mean", "mean"), dev_max_mean=("dev_max", "mean"),
                dev_max_max=("dev_max", "max"), dev_sz_mean=("dev_sz", "mean"),
                z_max_mean=("dev_over_stderr_max", "mean")).reset_index()
    out["projected_gpu_h"] = PAPER_TOTAL_H - PAPER_DYN_H + PAPER_DYN_H * out.inner_mean / PAPER_INNER
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=("quick", "n10", "trace"))
    ap.add_argument("--summarise", type=Path, nargs="+", help="CSV files of earlier runs: the table and projection")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--t-final", type=float, default=0.1)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--trace-steps", type=int, default=2)
    ap.add_argument("--windows", type=int, nargs="+", default=[5, 10, 15, 20])
    ap.add_argument("--noise", type=float, default=1.0)
    ap.add_argument("--points", nargs="+", default=None, help="only these points (e.g. luo_chain_dyn/base)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if args.summarise:
        print(summarise(args.summarise).to_string(index=False, float_format=lambda x: f"{x:.3g}"))
        return 0
    if args.case is None or args.out is None:
        ap.error("--case and --out are required (or --summarise)")

    if args.case == "trace":
        return trace(n10_spec(args.t_final, args.samples), args.trace_steps, args.windows, args.noise, args.out)
    specs = quick_specs() if args.case == "quick" else {"n10": n10_spec(args.t_final, args.samples)}
    if args.points:
        specs = {k: v for k, v in specs.items() if k in args.points}
    records = []
    for name, raw in specs.items():
        ex = exact_values(raw)
        for seed in args.seeds:
            for v in args.variants:
                r = run_variant(raw, VARIANTS[v], seed + raw.get("seed", 0))
                dev = {}
                for t, obs, val, err in r["rows"]:
                    if t > 0:
                        d = abs(val - ex[(round(t, 9), obs)])
                        dev[obs] = max(dev.get(obs, 0.0), d)
                        dev.setdefault("z_max", 0.0)
                        dev["z_max"] = max(dev["z_max"], d / err if err > 0 else np.inf)
                rec = {"case": args.case, "point": name, "seed": seed, "variant": v, "steps": r["steps"],
                       "inner_total": r["inner_total"], "inner_mean": r["inner_total"] / r["steps"],
                       "wall_s": round(r["wall_s"], 1), "s_per_inner": r["wall_s"] / r["inner_total"],
                       **{f"dev_{o}": dev.get(o, np.nan) for o in ("sx", "sy", "sz")},
                       "dev_max": max(dev.get(o, 0.0) for o in ("sx", "sy", "sz")), "dev_over_stderr_max": dev["z_max"],
                       "stop_reasons": " ".join(f"{k}:{n}" for k, n in sorted(r["reasons"].items()))}
                records.append(rec)
                print(" | ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.items()),
                      flush=True)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                pd.DataFrame(records).to_csv(args.out, index=False)
    df = pd.DataFrame(records)
    print(df.groupby("variant", sort=False)[["inner_total", "dev_max", "dev_over_stderr_max", "wall_s"]]
          .agg(["mean", "max"]).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
