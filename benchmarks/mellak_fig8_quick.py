"""Why the quick mellak2024 Fig. 8 run (Hermitian 2D CNN, 3x3 Heisenberg lattice) fails, and which quick
setting reaches exact: each setting is one `lindblad-nqs solve` of the quick run's spec with some method keys
changed, then the trained network is expanded densely (4^9 elements) and judged against the exact steady
state, not only by its own Monte Carlo numbers:

    sz (sampled) and sz of the dense, trace-normalised rho; the true L2 cost ||L rho||^2 / ||rho||^2 (sparse
    QuTiP Liouvillian) beside the run's two Monte Carlo estimates (|L_loc|^2 and L^dag L); the share of
    sum |rho|^2 in its largest element (1: collapsed onto one configuration); the extreme eigenvalues;
    the tracked sz every track_every iterations; wall time.

    python benchmarks/mellak_fig8_quick.py --out /tmp/fig8 --jobs 2 \
        --setting 'old: {}' --setting 'z1: {basis: z, beta: 1.0}' --jy 1.0
    python benchmarks/mellak_fig8_quick.py --out /tmp/fig8 --summarise    # the table of what is there

The base spec is config/quick.yaml's run mellak_square_cnn (its Jy = 1.0 point: basis from its sweep.with).
Runs side by side (--jobs 2) share the machine: wall times are comparable within one invocation only.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from solve_dir import solve_dir  # noqa: E402

EXACT_SZ = {}  # Jy -> exact sz, filled on demand


def base_spec(jy: float) -> dict:
    """The quick config's mellak_square_cnn point at Jy (system resolved from the config's named system)."""
    cfg = yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())
    run = cfg["runs"]["mellak_square_cnn"]
    system = cfg["systems"][run["system"]] if isinstance(run["system"], str) else run["system"]
    system = json.loads(json.dumps(system))
    system.setdefault("preset", {})["Jy"] = jy
    method = dict(run["method"])
    sw = run.get("sweep", {})
    if jy in sw.get("values", []):
        for key, vals in (sw.get("with") or {}).items():
            method[key.split(".", 1)[1]] = vals[sw["values"].index(jy)]
    return {"system": system, "task": {"kind": "steady"}, "method": method, "observables": ["sz", "szsz:1"],
            "seed": run.get("seed", 0)}


def run_one(out: Path, name: str, jy: float, changes: dict) -> str:
    spec = base_spec(jy)
    seed = changes.pop("seed", None)
    spec["method"].update(changes)
    if seed is not None:
        spec["seed"] = seed
    solve_dir(out / name, spec)
    return name


def dense_judgement(d: Path) -> dict:
    """The trained network of run dir d as a dense rho in the z basis, against the exact steady state."""
    import jax
    import jax.numpy as jnp

    from lindblad_nqs.exact.qutip_model import liouvillian
    from lindblad_nqs.exact.steady import solve_sector
    from lindblad_nqs.solvers.steady_l2 import _check, cnn_module
    from lindblad_nqs.spec import parse_spec
    from lindblad_nqs.vmc.driver import dense_rho, load_params_into
    from lindblad_nqs.vmc.sampling import prng_key

    spec = parse_spec(yaml.safe_load((d / "spec.yaml").read_text()))
    p = _check(spec)
    mod, n = cnn_module(spec, p), spec.system.n_sites
    params = load_params_into(d / "state" / "params.npz",
                              jax.jit(mod.init)(prng_key(0), jnp.zeros((1, 2, n), jnp.int8)), p["basis"])
    sector = p["basis"] == "z" and spec.system.conserves_z_parity()
    rho = dense_rho(jax.jit(mod.apply), params, n, 16384, sector)
    if p["basis"] == "x":  # the network holds U rho U, U the Hadamard on every site
        h = np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2)
        U = h
        for _ in range(n - 1):
            U = np.kron(U, h)
        rho = U @ rho @ U
    L = liouvillian(spec.system).to("csr").data_as("csr_matrix")
    bits = (np.arange(2**n)[:, None] >> (n - 1 - np.arange(n))) & 1
    sz = (1 - 2 * bits).mean(1)
    ev = np.linalg.eigvalsh(0.5 * (rho + rho.conj().T))
    jy = spec.system.J[1]
    if jy not in EXACT_SZ:
        EXACT_SZ[jy] = float(np.real(np.diag(solve_sector(spec.system).rho) @ sz))
    a2 = np.abs(rho) ** 2
    return {"dense_sz": float(np.real(np.diag(rho) @ sz)), "exact_sz": EXACT_SZ[jy],
            "true_cost": float(np.linalg.norm(L @ rho.T.ravel()) ** 2 / a2.sum()),
            "peak_share": float(a2.max() / a2.sum()), "eig_min": float(ev.min()), "eig_max": float(ev.max())}


def summarise(out: Path) -> None:
    import pandas as pd

    rows = []
    for d in sorted(p for p in out.iterdir() if (p / "spec.yaml").exists()):
        spec = yaml.safe_load((d / "spec.yaml").read_text())
        m = spec["method"]
        row = {"setting": d.name, "Jy": spec["system"]["preset"]["Jy"], "basis": m.get("basis", "z"),
               "beta": m.get("beta"), "opt": m.get("optimizer"), "lr": m.get("lr"), "samples": m.get("n_samples"),
               "iters": m.get("iterations"), "wall_s": float((d / "wall_s.txt").read_text()) if (d / "wall_s.txt").exists() else np.nan}
        if (d / "result.csv").exists():
            res = pd.read_csv(d / "result.csv").set_index("observable")
            prov = json.loads((d / "result.json").read_text())
            row.update(sz=res.loc["sz", "value"], cost_l2=prov.get("final_cost_subset_l2"),
                       cost_ldagl=prov.get("final_cost_subset_ldagl"), warned=bool(prov.get("warning")))
            h = pd.read_csv(d / "result.history.csv")
            t = h.dropna(subset=["sz"])
            row["tracked_sz"] = " ".join(f"{v:.2f}" for v in t["sz"].iloc[:: max(1, len(t) // 8)])
        else:
            log = (d / "solve.log").read_text().strip().splitlines() if (d / "solve.log").exists() else ["not run"]
            row["error"] = log[-1][:100] if log else ""
        if (d / "state" / "params.npz").exists():
            row.update(dense_judgement(d))
            if "sz" in row:
                row["err"] = abs(row["sz"] - row["exact_sz"])
        rows.append(row)
    df = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.max_colwidth", 60):
        print(df.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    df.to_csv(out / "summary.csv", index=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--setting", action="append", default=[], help="'name: {method keys}' (YAML)")
    ap.add_argument("--jy", type=float, action="append", help="Jy points (default 1.0 and 1.8)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--summarise", action="store_true", help="only the table of the runs under --out")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    if not a.summarise:
        todo = []
        for s in a.setting:
            name, changes = s.split(":", 1)
            for jy in a.jy or [1.0, 1.8]:
                todo.append((f"{name.strip()}_Jy{jy}", jy, yaml.safe_load(changes) or {}))
        with ThreadPoolExecutor(a.jobs) as ex:
            for name in ex.map(lambda t: run_one(a.out, *t), todo):
                print("done", name, flush=True)
    summarise(a.out)


if __name__ == "__main__":
    main()
