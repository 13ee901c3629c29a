"""The statistics that tell a rho collapsed onto one element from a nearly pure one (issue 14), on quick runs.

Each case is one `lindblad-nqs solve` of a quick-config point (with method keys changed where the case says),
run one after another; the table then shows, from each result's provenance and history, what the steady
driver's collapse check reads:

    acceptance            all moves of the final draw (the ket-bra swap, 0.1 of the moves, is accepted
                          wherever |rho| is Hermitian-symmetric, collapsed or not)
    flip_acc              the final draw's moves other than the swap (single/pair and diag flips)
    l2_flip_acc           the acceptance those flips would have on |rho|^2, from probes around the final
                          samples (the collapse check's statistic, vmc.driver.chain_collapse: below 3e-4)
    tail_flip_acc         the same, mean over the last tenth of the iterations
    distinct, peak_share  distinct elements of rho (up to the swap) among the final samples, and the |rho|^2
                          weight of the most frequent one (importance weights where beta < 1)
    collapsed, warning    the driver's verdict and the run's warnings
    err                   largest |value - exact| over the observables (the quick config's exact reference
                          point, solved once under OUT/exact)

    python benchmarks/collapse_check.py --out /tmp/collapse            # every case, then the table
    python benchmarks/collapse_check.py --out /tmp/collapse --case tfi_cnn_g0.5
    python benchmarks/collapse_check.py --out /tmp/collapse --summarise
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from solve_dir import solve_dir  # noqa: E402

# name -> (run, point, method changes, exact reference run)
CASES = {
    # the collapse: quick Fig. 8's x-basis point with the paper's initial std (quick.yaml sets init_scale 1.7)
    "fig8_x_paper_init": ("mellak_square_cnn", "Jy=1.0", {"init_scale": 1.0}, "square_steady_exact"),
    "fig8_x_init1.7": ("mellak_square_cnn", "Jy=1.0", {}, "square_steady_exact"),
    # accurate, nearly pure TFI steady states (total acceptance 0.124-0.126 in the quick build)
    "tfi_cnn_g0.5": ("mellak_tfi_cnn", "g=0.5", {}, "tfi_steady_exact"),
    "tfi_cnn_gn_g0.5": ("mellak_tfi_cnn_gn", "g=0.5", {}, "tfi_steady_exact"),
    "tfi_rbm_g0.5": ("mellak_tfi_rbm", "g=0.5", {}, "tfi_steady_exact"),
    # other quick points, for false alarms: the rotated model in the x basis, a mixed TFI state
    "rotated_cnn_gn_g1.0": ("mellak_rotated_cnn_gn", "g=1.0", {}, "rotated_open_steady_exact"),
    "tfi_rbm_g2.0": ("mellak_tfi_rbm", "g=2.0", {}, "tfi_steady_exact"),
}


def point_spec(run: str, point: str, changes: dict) -> dict:
    from lindblad_nqs.pipeline import expand_runs

    cfg = yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())
    spec = json.loads(json.dumps(expand_runs(cfg)[run][point].spec))
    spec["method"].update(changes)
    return spec


def run_case(out: Path, name: str) -> None:
    run, point, changes, _ = CASES[name]
    rc = solve_dir(out / name, point_spec(run, point, changes))
    print("done", name, f"rc {rc}", flush=True)


def exact_values(out: Path, ref: str, point: str) -> dict:
    """The exact reference point's values, solved here once (under out/exact/) from the quick config's spec."""
    d = out / "exact" / ref / point
    if not (d / "result.csv").exists():
        d.mkdir(parents=True, exist_ok=True)
        (d / "spec.yaml").write_text(yaml.safe_dump(point_spec(ref, point, {}), sort_keys=False))
        subprocess.run([sys.executable, "-m", "lindblad_nqs", "solve", str(d / "spec.yaml"), "--out", str(d / "result.csv"),
                        "--threads", "1"], check=True, capture_output=True)
    df = pd.read_csv(d / "result.csv")
    return dict(zip(df["observable"], df["value"]))


def summarise(out: Path) -> pd.DataFrame:
    rows = []
    for name, (run, point, changes, ref) in CASES.items():
        d = out / name
        if not (d / "result.json").exists():
            continue
        prov = json.loads((d / "result.json").read_text())
        res = pd.read_csv(d / "result.csv")
        exact = exact_values(out, ref, point)
        errs = [abs(v - exact[o]) for o, v in zip(res["observable"], res["value"]) if o in exact]
        rows.append({"case": name, "acceptance": prov.get("final_acceptance"),
                     "flip_acc": prov.get("final_flip_acceptance"), "tail_flip_acc": prov.get("tail_flip_acceptance"),
                     "l2_flip_acc": prov.get("final_l2_flip_acceptance"), "distinct": prov.get("final_distinct_elements"),
                     "peak_share": prov.get("final_peak_share"),
                     "cost_l2": prov.get("final_cost_subset_l2"), "cost_ldagl": prov.get("final_cost_subset_ldagl"),
                     "err": max(errs) if errs else None, "collapsed": prov.get("collapsed"),
                     "warned": bool(prov.get("warning")), "wall_s": float((d / "wall_s.txt").read_text())})
    df = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(df.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--case", action="append", choices=list(CASES), help="default: every case")
    ap.add_argument("--summarise", action="store_true", help="only the table of the cases under --out")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    if not a.summarise:
        for name in a.case or CASES:
            run_case(a.out, name)
    summarise(a.out).to_csv(a.out / "summary.csv", index=False)


if __name__ == "__main__":
    main()
