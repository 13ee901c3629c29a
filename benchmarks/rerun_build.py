"""Rerun every run of an earlier build with this code, and compare the two builds run by run.

    python benchmarks/rerun_build.py solve OLD WORK [-j 2] [--transformer-dt-x2] [--points RUN/POINT ...]
                                           [--python OTHER_VENV/bin/python --seed-add 1]
    python benchmarks/rerun_build.py compare OLD WORK [--spread SEEDS] [--markdown]

OLD is the results/runs folder of a finished build (of any commit). `solve` takes each point's resolved
spec from its result.json (every method key explicit, so a default changed since then does not change
the run) and solves it with this code into WORK/{run}/{point}, single-threaded as the DAG runs it,
`-j` at a time, the longest first by the old wall time; a point that started from another run's state
(--init-state) runs after it, from the new state. `--transformer-dt-x2`: the old build's transformer
dynamics took task.dt to be the trapezoid's tau (before b55ed0e); today task.dt is one whole step.
`--python` solves with another interpreter (the old build's own environment) and `--seed-add` shifts every
seed: the old code with another seed measures the spread of training that a change of rounding draws from.

`compare` joins each old result.csv with its new one on (t, observable) and prints per run: the largest
difference, the largest difference over the combined standard error, the wall times and, with `--spread`
(a WORK of the old code with shifted seeds), the largest difference between the old code's two seeds. Exact methods
must agree to 1e-10; a stochastic run of the same seed agrees to roundoff where the code path draws the
same random numbers, else within its Monte Carlo error (what a change of rounding draws from also
includes the spread of training, which the table's error does not contain).
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from solve_dir import solve_dir  # noqa: E402

EXACT = {"exact", "tebd"}


def points(old: Path) -> list[tuple[str, dict]]:
    out = []
    for js in sorted(old.glob("*/*/result.json")):
        out.append((f"{js.parent.parent.name}/{js.parent.name}", json.loads(js.read_text())))
    return out


def translated(info: dict, transformer_dt_x2: bool, seed_add: int = 0) -> dict:
    spec = json.loads(json.dumps(info["spec"]))
    spec["seed"] = spec.get("seed", 0) + seed_add
    if transformer_dt_x2 and spec["method"]["name"] == "transformer" and spec["task"]["kind"] == "dynamics":
        spec["task"]["dt"] = 2 * spec["task"]["dt"]
    return spec


def solve_one(python: str, work: Path, key: str, spec: dict, init: str | None) -> tuple[str, int]:
    rc = solve_dir(work / key, spec, work / init / "state" if init else None, python)
    print(f"{key}: rc {rc}, {(work / key / 'wall_s.txt').read_text().strip()} s", flush=True)
    return key, rc


def cmd_solve(a):
    old, work = Path(a.old), Path(a.work)
    todo = []
    for key, info in points(old):
        init = info.get("init_state")
        init = "/".join(Path(init).parts[-3:-1]) if init else None
        if (work / key / "result.csv").exists() or (a.points and key not in a.points):
            continue
        todo.append((key, translated(info, a.transformer_dt_x2, a.seed_add), init, info.get("wall_time_s", 0.0)))
    first = sorted([t for t in todo if t[2] is None], key=lambda t: -t[3])
    later = [t for t in todo if t[2] is not None]
    failed = []
    with ThreadPoolExecutor(a.jobs) as pool:
        for batch in (first, later):
            for key, rc in pool.map(lambda t: solve_one(a.python, work, t[0], t[1], t[2]), batch):
                if rc:
                    failed.append(key)
    if failed:
        sys.exit(f"{len(failed)} points failed: {', '.join(failed)}")


def compare_point(old_csv: Path, new_csv: Path) -> dict:
    o, n = pd.read_csv(old_csv), pd.read_csv(new_csv)
    for df in (o, n):
        df["t"] = df["t"].round(9)
    m = o.merge(n, on=["t", "observable"], how="outer", suffixes=("_old", "_new"), indicator=True)
    unmatched = int((m["_merge"] != "both").sum())
    m = m[m["_merge"] == "both"]
    diff = (m["value_new"] - m["value_old"]).abs()
    sigma = np.sqrt(m["stderr_old"].fillna(0) ** 2 + m["stderr_new"].fillna(0) ** 2)
    z = (diff / sigma).where(sigma > 0)
    i = diff.idxmax() if len(diff) else None
    return dict(values=len(m), unmatched=unmatched, max_diff=float(diff.max()) if len(diff) else np.nan,
                worst=f"{m.loc[i, 'observable']}@{m.loc[i, 't']}" if i is not None else "",
                max_z=float(z.max()) if z.notna().any() else np.nan,
                median_z=float(z.median()) if z.notna().any() else np.nan)


def cmd_compare(a):
    old, work = Path(a.old), Path(a.work)
    rows = []
    for key, info in points(old):
        new_csv = work / key / "result.csv"
        if not new_csv.exists():
            rows.append(dict(point=key, method=info["method"], status="no new result"))
            continue
        new_info = json.loads((work / key / "result.json").read_text())
        r = compare_point(old / key / "result.csv", new_csv)
        other = Path(a.spread) / key / "result.csv" if a.spread else None
        if other is not None and other.exists():
            r["seed_spread"] = compare_point(old / key / "result.csv", other)["max_diff"]
        exact = info["method"] in EXACT
        ok = r["unmatched"] == 0 and (r["max_diff"] <= 1e-10 if exact else True)
        rows.append(dict(point=key, method=info["method"], kind=info["spec"]["task"]["kind"], **r,
                         old_s=info.get("wall_time_s"), new_s=new_info.get("wall_time_s"),
                         status="ok" if ok else ("DIFFERS" if exact else "unmatched rows")))
    df = pd.DataFrame(rows)
    df["new/old"] = df["new_s"] / df["old_s"]
    if "seed_spread" in df:
        df["diff/spread"] = df["max_diff"] / df["seed_spread"]
    pd.set_option("display.width", 250)
    pd.set_option("display.max_rows", 500)
    print(df.to_markdown(index=False, floatfmt=".3g") if a.markdown else df.to_string(index=False))
    for method, g in df.groupby("method"):
        print(f"{method}: {len(g)} points, wall old {g['old_s'].sum():.0f} s, new {g['new_s'].sum():.0f} s, "
              f"ratio {g['new_s'].sum() / g['old_s'].sum():.2f}; largest |diff| {g['max_diff'].max():.3g}, "
              f"largest diff/stderr {g['max_z'].max():.3g}")
    print(f"all: wall old {df['old_s'].sum():.0f} s, new {df['new_s'].sum():.0f} s")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("solve")
    s.add_argument("old")
    s.add_argument("work")
    s.add_argument("-j", "--jobs", type=int, default=2)
    s.add_argument("--transformer-dt-x2", action="store_true")
    s.add_argument("--points", nargs="*", default=None, help="RUN/POINT keys to solve (default: all)")
    s.add_argument("--python", default=sys.executable, help="interpreter whose lindblad_nqs solves")
    s.add_argument("--seed-add", type=int, default=0)
    c = sub.add_parser("compare")
    c.add_argument("old")
    c.add_argument("work")
    c.add_argument("--spread", default=None, help="WORK of the old code with shifted seeds")
    c.add_argument("--markdown", action="store_true")
    a = p.parse_args()
    cmd_solve(a) if a.cmd == "solve" else cmd_compare(a)


if __name__ == "__main__":
    main()
