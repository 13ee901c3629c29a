"""The quick DAG's fit-to-exact floors, Adam (the old default) against L-BFGS, back to back in one process.

For every floor point of config/quick.yaml (budget.floor_points of config/cross_method.yaml: the rule
`floor` of workflow/rules/review.smk) the run's spec as the pipeline writes it, fitted once per
optimiser; prints each floor (loss, max |fit - exact| of the tracked observables, trace distance),
the iterations, why the fit stopped and its wall time, and the ratios new / old.

    OMP_NUM_THREADS=1 nice python benchmarks/bench_floor.py [--only RUN ...] [--out bench_floor.csv]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent


def floor_specs(config: Path, cross: Path) -> dict:
    """{(run, point): spec dict} of the floors the quick DAG computes."""
    from lindblad_nqs import budget, pipeline

    runs = pipeline.checked_runs(yaml.safe_load(config.read_text()))
    b = budget.load_budget(cross)
    return {key: pt.spec for key, pt in budget.floor_points(b, runs).items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "config" / "quick.yaml"))
    ap.add_argument("--cross", default=str(ROOT / "config" / "cross_method.yaml"))
    ap.add_argument("--only", nargs="*", default=None, help="run names to keep")
    ap.add_argument("--old", default="adam:1000:0.01", help="optimizer:steps:lr of the old fit")
    ap.add_argument("--new", default=None, help="optimizer:steps:tol:warmup of the new fit (default: floor.DEFAULTS)")
    ap.add_argument("--out", default=None, help="CSV of every fit")
    args = ap.parse_args(argv)

    from lindblad_nqs import pipeline
    from lindblad_nqs.floor import DEFAULTS, fit_floor
    from lindblad_nqs.spec import load_spec

    o_opt, o_steps, o_lr = args.old.split(":")
    new = args.new or f"{DEFAULTS['optimizer']}:{DEFAULTS['steps']}:{DEFAULTS['tol']}:{DEFAULTS['warmup']}"
    n_opt, n_steps, n_tol, n_warm = new.split(":")
    fits = {"old": dict(optimizer=o_opt, steps=int(o_steps), lr=float(o_lr)),
            "new": dict(optimizer=n_opt, steps=int(n_steps), tol=float(n_tol), warmup=int(n_warm))}
    # the imports both fits share, before either is timed (the first fit would pay them alone)
    import lindblad_nqs.povm_solvers.training  # noqa: F401
    import lindblad_nqs.solvers.steady_l2  # noqa: F401
    import lindblad_nqs.solvers.transformer  # noqa: F401
    import lindblad_nqs.vmc.configs  # noqa: F401

    specs = floor_specs(Path(args.config), Path(args.cross))
    if args.only:
        specs = {k: v for k, v in specs.items() if k[0] in args.only}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for (run, point), raw in specs.items():
            path = Path(tmp) / f"{run}_{point}.yaml"
            path.write_text(pipeline.spec_text(raw))
            spec = load_spec(path)
            for which, kw in fits.items():
                _, info = fit_floor(spec, **kw)
                rows.append({"run": run, "point": point, "fit": which, "optimizer": kw["optimizer"],
                             **{k: info[k] for k in ("loss", "max_abs_error", "trace_distance", "iterations",
                                                     "evaluations", "stop_reason", "wall_time_s", "n_params")}})
                r = rows[-1]
                print(f"{run:22s} {point:11s} {which} {r['optimizer']:5s} loss {r['loss']:.3e} "
                      f"err {r['max_abs_error']:.3e} td {r['trace_distance']:.3e} it {r['iterations']:4d} "
                      f"ev {r['evaluations']:4d} {r['stop_reason']:12s} {r['wall_time_s']:7.1f} s", flush=True)
    df = pd.DataFrame(rows)
    if args.out:
        df.to_csv(args.out, index=False)
    w = df.pivot_table(index=["run", "point"], columns="fit", values=["max_abs_error", "trace_distance", "loss",
                                                                      "wall_time_s"], sort=False)
    pd.set_option("display.width", 200)
    ratio = pd.DataFrame({q: w[q]["new"] / w[q]["old"] for q in ("max_abs_error", "trace_distance", "loss", "wall_time_s")})
    print("\nnew / old per floor:")
    print(ratio.to_string(float_format=lambda v: f"{v:.3g}"))
    t_old, t_new = df[df.fit == "old"].wall_time_s.sum(), df[df.fit == "new"].wall_time_s.sum()
    print(f"\ntotal wall time: old {t_old:.1f} s, new {t_new:.1f} s, new / old {t_new / t_old:.3f}")
    worse = ratio[(ratio["max_abs_error"] > 1.0) | (ratio["trace_distance"] > 1.0)]
    print(f"floors higher than old (max abs error or trace distance): {len(worse)}"
          + ("" if worse.empty else "\n" + worse.to_string(float_format=lambda v: f"{v:.3g}")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
