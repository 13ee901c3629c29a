"""Accuracy of the L2 steady-state methods with their defaults, against the exact steady state.

The systems of issue 3's acceptance test: a 5-site open chain with mixed sigma^- and dephasing jumps and
a 2x3 Heisenberg lattice (plus the 6-site TFI ring at g = 2, where first-order optimisers stall). For
each (system, method, optimizer) the run uses the method's defaults except the optimizer and the
iteration count, and the table reports the largest |error| over the observables, the final cost and
the wall time of the run, all from this one invocation.

    python benchmarks/bench_vmc_accuracy.py                         # cnn with gn, adam, nagd
    python benchmarks/bench_vmc_accuracy.py --methods cnn,rbm_ndo --optimizers gn --systems chain5
    python benchmarks/bench_vmc_accuracy.py --systems square2x3 --optimizers gn --set '{sampler: full_sum}'
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lindblad_nqs.exact.dynamics import dense_expect  # noqa: E402
from lindblad_nqs.exact.steady import solve_sector  # noqa: E402
from lindblad_nqs.methods import RunContext, get_method  # noqa: E402
from lindblad_nqs.observables import evaluate  # noqa: E402
from lindblad_nqs.spec import parse_spec  # noqa: E402

SYSTEMS = {
    "chain5": {"lattice": {"shape": [5], "boundary": "open"}, "couplings": {"Jx": 1.0, "Jz": 1.0}, "field": {"hx": 1.0},
               "jumps": [{"op": "sigma_minus", "rate": 1.0}, {"op": "sigma_z", "rate": 0.5}]},
    "square2x3": {"lattice": {"shape": [2, 3], "boundary": "open"},
                  "preset": {"name": "heisenberg", "Jx": 0.9, "Jy": 1.8, "Jz": 1.0, "gamma": 1.0}},
    "tfi6_g2": {"lattice": {"shape": [6], "boundary": "periodic"}, "preset": {"name": "tfi", "V": 2.0, "g": 2.0, "gamma": 1.0}},
}
OBS = ["sx", "sy", "sz", "szsz:1", "sxsx:1"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--systems", default="chain5,square2x3,tfi6_g2")
    ap.add_argument("--methods", default="cnn")
    ap.add_argument("--optimizers", default="gn,adam,nagd")
    ap.add_argument("--iterations", default="gn=300,sr=300,adam=1000,nagd=1000",
                    help="iterations per optimizer (first-order methods get more: their iterations are cheaper)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", default="{}", help="method options as a YAML mapping, applied to every run")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "vmc_accuracy.csv"))
    a = ap.parse_args(argv)
    iters = dict(kv.split("=") for kv in a.iterations.split(","))
    rows = []
    for sysname in a.systems.split(","):
        for method in a.methods.split(","):
            for opt in a.optimizers.split(","):
                m = {"name": method, "optimizer": opt, "iterations": int(iters[opt])}
                if opt == "nagd":
                    m["lr"] = 0.05
                m.update(yaml.safe_load(a.set))
                s = parse_spec({"system": SYSTEMS[sysname], "task": {"kind": "steady"}, "method": m,
                                "observables": OBS, "seed": a.seed})
                ex = dense_expect(solve_sector(s.system).rho, s.system.n_sites)
                ref = {o.name: evaluate(o, ex) for o in s.observables}
                with tempfile.TemporaryDirectory(prefix="bench_vmc_acc_") as tmp:
                    t0 = time.perf_counter()
                    res = get_method(method).solve(s, RunContext(state_dir=Path(tmp)))
                    wall = time.perf_counter() - t0
                errs = {name: abs(v - ref[name]) for _, name, v, _ in res.rows}
                worst = max(errs, key=errs.get)
                row = {"system": sysname, "method": method, "optimizer": opt, "iterations": m["iterations"], "set": a.set,
                       "max_abs_error": errs[worst], "worst": worst, "final_cost": res.info["final_cost"],
                       "wall_s": wall, "s_per_iteration": res.info["time_per_iteration_s"],
                       **{f"err_{k}": v for k, v in errs.items()}}
                rows.append(row)
                print(f"{sysname:10s} {method:8s} {opt:5s} it={m['iterations']:5d} max|err|={errs[worst]:.3f} ({worst})"
                      f" cost={row['final_cost']:.2e} {wall:6.0f} s", flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(a.out, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
