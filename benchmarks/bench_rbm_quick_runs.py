"""hartmann2019's quick runs (config/quick.yaml) with rbm_tdvp's generic and analytic paths, back to back.

    python benchmarks/bench_rbm_quick_runs.py [--runs hartmann_fig2_rbm hartmann_fig3_rbm] [--repeat 2]

Each point's spec exactly as the pipeline writes it, solved by `python -m lindblad_nqs solve --threads 1`
in a fresh state directory, once with method.analytic false (autodiff O_k, a full RBM evaluation per
connected configuration) and once with the default closed forms, the order alternating round by round;
the compilation cache is off (LINDBLAD_NQS_JAX_CACHE=off), so each solve pays its compilation as the
first solve of a fresh clone does. Prints the wall and CPU seconds of each solve (CPU: the solve's process, single-threaded; on a shared
machine that is the one that compares), the per-round ratios, and the
largest difference between the two paths' result values (the same samples: the evolutions agree until
roundoff in the update flips a Metropolis decision) and each path's largest deviation from the run's
exact reference (the figure's: exact dynamics at the saved times, or the exact steady state for the end
of the steady run), with the results' median stderr beside it.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REFERENCES = {"hartmann_fig2_rbm": "strong_chain_dynamics_exact", "hartmann_fig3_rbm": "open_chain_steady_exact"}


def solve(spec: dict, where: Path) -> tuple[float, pd.DataFrame]:
    where.mkdir(parents=True)
    (where / "spec.yaml").write_text(yaml.safe_dump(spec))
    env = dict(os.environ, LINDBLAD_NQS_JAX_CACHE="off")
    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-m", "lindblad_nqs", "solve", str(where / "spec.yaml"), "--out",
                          str(where / "result.csv"), "--state-dir", str(where / "state"), "--threads", "1"],
                         env=env, capture_output=True, text=True)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = (time.perf_counter() - t0, c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    tab = pd.read_csv(where / "result.csv")
    tab["t"] = tab.t.fillna(-1.0).round(9)  # a steady result has no time
    return wall, tab


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="config/quick.yaml")
    ap.add_argument("--runs", nargs="+", default=["hartmann_fig2_rbm", "hartmann_fig3_rbm"])
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    from lindblad_nqs.pipeline import checked_runs

    runs = checked_runs(yaml.safe_load(Path(a.config).read_text()))
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.runs:
            (label, point), = runs[name].items()
            paths = {"generic": False, "analytic": True}
            walls = {k: [] for k in paths}
            tables = {}
            for r in range(a.repeat):
                for path in (list(paths) if r % 2 == 0 else list(paths)[::-1]):
                    spec = dict(point.spec, method=dict(point.spec["method"], analytic=paths[path]))
                    wall, tab = solve(spec, Path(tmp) / f"{name}-{path}-{r}")
                    walls[path].append(wall)
                    tables.setdefault(path, tab)
                    print(f"{name} round {r + 1} {path:8s} {wall[0]:7.1f} s wall, {wall[1]:7.1f} s CPU (load "
                          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())})", flush=True)
            g, an = (tables[k].set_index(["t", "observable"]).value for k in ("generic", "analytic"))
            for i, what in ((0, "wall"), (1, "CPU")):
                ratio = [x[i] / y[i] for x, y in zip(walls["analytic"], walls["generic"])]
                med = {k: np.median([w[i] for w in v]) for k, v in walls.items()}
                print(f"{name} ({what}): median {med['generic']:.1f} s generic, {med['analytic']:.1f} s analytic, "
                      f"analytic / generic per round {' '.join(f'{q:.2f}' for q in ratio)}")
            print(f"{name}: max |value difference| between the paths {float(np.max(np.abs(g - an.reindex(g.index)))):.2e}")
            ref_name = REFERENCES.get(name)
            if ref_name:
                (rl, rp), = runs[ref_name].items()
                _, ref = solve(rp.spec, Path(tmp) / f"{ref_name}")
                ref = ref.set_index(["t", "observable"]).value
                for path, tab in tables.items():
                    t = tab.set_index(["t", "observable"])
                    dev = (t.value - ref.reindex(t.index)).abs()
                    worst = dev.groupby(level="observable").max()
                    print(f"  {path:8s} max |m - exact| " + "  ".join(f"{k} {v:.3f}" for k, v in worst.items())
                          + f"  (median stderr {float(t.stderr.median()):.3f})")


if __name__ == "__main__":
    main()
