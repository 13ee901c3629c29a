"""Before/after check of a change to the steady-state VMC driver (methods cnn, rbm_ndo) on quick-config points.

Each point of config/quick.yaml named below is solved by `lindblad-nqs solve` twice, once with the old
source tree and once with the new one (PYTHONPATH selects the package), alternating old and new point by
point so both see the same machine load; single-threaded, with JAX's persistent compilation cache off
(a cache warmed by one side would hide its compile time). Prints one table: every observable's value and
stderr for old and new, the difference in units of the combined stderr, and the median time per
iteration of each with their ratio (new / old).

    python benchmarks/steady_driver_before_after.py --old /tmp/h1-old/src --new src --work /tmp/ba \
        [--points mellak_tfi_cnn/g=2.0 ...] [--only old|new] [--seed S]

--only reruns one side (the other side's files in --work are reused; its timing then comes from
another run and the ratio is not a same-run ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

POINTS = ["mellak_tfi_cnn/g=2.0", "mellak_tfi_rbm/g=2.0", "mellak_tfi_cnn_nagd/g=2.0",
          "mellak_square_cnn/Jy=1.0", "mellak_timing_rbm/shape=4"]
ENV1 = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1", "LINDBLAD_NQS_JAX_CACHE": "off"}


def specs(points, seed=None):
    import dataclasses

    import yaml

    from lindblad_nqs.pipeline import expand_runs, spec_text

    runs = expand_runs(yaml.safe_load(Path("config/quick.yaml").read_text()))
    out = {}
    for p in points:
        run, label = p.split("/")
        point = runs[run][label]
        if seed is not None:
            point = dataclasses.replace(point, spec=dict(point.spec, seed=seed))
        out[p] = spec_text(point)
    return out


def solve(src: str, spec: Path, out: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(Path(src).resolve()), **ENV1)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "lindblad_nqs.cli", "solve", str(spec), "--out", str(out),
                        "--state-dir", str(out.parent / "state"), "--threads", "1"],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{spec} with {src}: exit {r.returncode}: {r.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - t0


def read(out: Path):
    import pandas as pd

    df = pd.read_csv(out)
    info = json.loads(out.with_suffix(".json").read_text())
    prov = info.get("info", info)
    return df, prov


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--points", nargs="+", default=POINTS)
    ap.add_argument("--only", choices=("old", "new"))
    ap.add_argument("--seed", type=int, help="another seed than the config's (the spread between seeds is the "
                    "scale on which two code paths with different rounding may differ)")
    a = ap.parse_args()
    work = Path(a.work)
    texts = specs(a.points, a.seed)
    wall = {}
    for p, text in texts.items():
        for side, src in (("old", a.old), ("new", a.new)):
            d = work / side / p.replace("/", "_")
            if a.only and side != a.only:
                continue
            d.mkdir(parents=True, exist_ok=True)
            if (d / "state").exists():
                subprocess.run(["rm", "-rf", str(d / "state")], check=True)
            (d / "spec.yaml").write_text(text)
            wall[(p, side)] = solve(src, d / "spec.yaml", d / "result.csv")
            print(f"{p} {side}: {wall[(p, side)]:.0f} s", file=sys.stderr, flush=True)
    print("| point | optimiser | observable | old value +- stderr | new value +- stderr | diff / sigma "
          "| s/iteration old | new | new/old | wall s old | new |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for p in texts:
        (do, io), (dn, inew) = (read(work / s / p.replace("/", "_") / "result.csv") for s in ("old", "new"))
        to, tn = _tpi(io), _tpi(inew)
        opt = _opt(io)
        for i, (_, ro) in enumerate(do.iterrows()):
            rn = dn[dn.observable == ro.observable].iloc[0]
            sig = (ro.stderr**2 + rn.stderr**2) ** 0.5
            z = (rn.value - ro.value) / sig if sig > 0 else float("nan")
            wo, wn = _find(io, "wall_time_s"), _find(inew, "wall_time_s")
            timing = (f"| {to:.4f} | {tn:.4f} | {tn / to:.2f} | {wo:.0f} | {wn:.0f} |" if i == 0 else "| | | | | |")
            print(f"| {p if i == 0 else ''} | {opt if i == 0 else ''} | {ro.observable} | {ro.value:.4f} +- {ro.stderr:.4f} "
                  f"| {rn.value:.4f} +- {rn.stderr:.4f} | {z:+.2f} {timing}")


def _find(d, key):
    if isinstance(d, dict):
        if key in d:
            return d[key]
        for v in d.values():
            r = _find(v, key)
            if r is not None:
                return r
    return None


def _tpi(info):
    return float(_find(info, "time_per_iteration_s"))


def _opt(info):
    return _find(info, "optimizer") or "?"


if __name__ == "__main__":
    main()
