"""Exact steady state: the solver of today against the one before (issue 15) and QuTiP's `steadystate`.

    python benchmarks/bench_exact_steady.py             # small systems (3 solvers), 3x3, TFI ring of 10
    python benchmarks/bench_exact_steady.py --big       # adds rings of 11 and 12 (7 GB), new solver only
    python benchmarks/bench_exact_steady.py --parallel  # the 3x3 solve alone, then two side by side

"new": `solve_sector` (dense LAPACK LU up to 5,000 unknowns, BiCGSTAB/GMRES beyond) with BLAS limited to
--threads (what `lindblad-nqs solve --threads N` does). "old": the code before, reproduced below: SuperLU
with its default COLAMD ordering up to 8,000 unknowns, relaxation by expm_multiply beyond, with the
libraries' default threads (the old command line set none). Each old solve runs in a subprocess with
a time limit (--old-limit), so a factorisation that fills in shows as "> limit" instead of stalling the
run. Each line: wall times of the solvers measured in the same run, old/new, the relative residual
||L rho|| / ||rho||, and the largest difference of the density matrices.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from threadpoolctl import threadpool_limits

from lindblad_nqs.exact.sector import SymmetricSector
from lindblad_nqs.exact.steady import solve_qutip, solve_sector
from lindblad_nqs.model import Jump, Lattice, SpinSystem


def heisenberg(shape, periodic=True, Jy=1.8):
    return SpinSystem(Lattice(shape, periodic), (0.9, Jy, 1.0), (0, 0, 0), (Jump("sigma_minus", 1.0),))


def tfi(n, g=1.0, V=2.0):
    return SpinSystem(Lattice((n,), True), (0, 0, V / 4), (g / 2, 0, 0), (Jump("sigma_minus", 1.0),))


CASES = {
    "heisenberg 2x2 periodic": lambda: heisenberg((2, 2)),
    "heisenberg 2x3 open": lambda: heisenberg((2, 3), False),
    "tfi ring 6": lambda: tfi(6),
    "heisenberg 3x3 (Jy=1.8)": lambda: heisenberg((3, 3)),
    "tfi ring 10 (V=2, g=1)": lambda: tfi(10),
    "rotated ising open 8": lambda: SpinSystem(Lattice((8,), False), (-0.5, 0, 0), (0, 0, 0.5),
                                               (Jump("sigma_minus", 1.0),)),
    "tfi ring 11": lambda: tfi(11),
    "tfi ring 12": lambda: tfi(12),
}


def old_solve_sector(system, tol=1e-10, t_chunk=5.0, t_max=5000.0):
    """The solver before issue 15 (exact/steady.py at 9f2cecf), returning (rho, relative residual)."""
    sec = SymmetricSector.build(system, even_parity_only=system.conserves_z_parity())
    w = sec.trace_weights
    if sec.dim <= 8000:
        a = int(np.flatnonzero(w)[0])
        A = sec.M.tolil()
        A[a, :] = w
        b = np.zeros(sec.dim, complex)
        b[a] = 1.0
        lu = spla.splu(sp.csc_matrix(A.tocsr()))
        c = lu.solve(b)
        inv = spla.LinearOperator(A.shape, matvec=lu.solve, rmatvec=lambda x: lu.solve(x, trans="H"), dtype=complex)
        spla.norm(A, 1) * spla.onenormest(inv)  # the condition estimate it made
    else:
        c = np.where(w > 0, 1.0, 0.0).astype(complex)
        c /= w @ c
        t = 0.0
        while True:
            c = spla.expm_multiply(sec.M * t_chunk, c)
            c /= w @ c
            t += t_chunk
            if sec.residual_norm(c) / sec.norm(c) < tol or t >= t_max:
                break
    rho = sec.expand(c)
    rho = 0.5 * (rho + rho.conj().T)
    return rho, sec.residual_norm(c) / sec.norm(c)


def _old_in_subprocess(name, limit):
    """(seconds or None when over the limit, relative residual, rho)."""
    out = f"/tmp/bench_exact_old_{os.getpid()}.npz"
    try:
        subprocess.run([sys.executable, __file__, "--old-one", name, "--old-out", out], check=True, timeout=limit)
        with np.load(out) as f:
            return float(f["t"]), float(f["res"]), f["rho"]
    except subprocess.TimeoutExpired:
        return None, np.nan, None
    finally:
        if os.path.exists(out):
            os.remove(out)


def _timed(fn, *a, **k):
    t = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t


def _parallel(threads):
    """The 3x3 solve alone, then two at once: per-job time (the issue asked for no slowdown per job)."""
    cmd = [sys.executable, __file__, "--new-one", "heisenberg 3x3 (Jy=1.8)", "--threads", str(threads)]
    for k in (1, 2):
        t = time.perf_counter()
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(k)]
        times = [float(p.communicate()[0].split()[-1]) for p in procs]
        print(f"{k} job(s) of the 3x3 solve at --threads {threads}: per job {', '.join(f'{x:.2f}' for x in times)} s, "
              f"wall {time.perf_counter() - t:.2f} s (with interpreter start)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--big", action="store_true", help="add rings of 11 and 12 sites (12: 70 s, 7.3 GB)")
    ap.add_argument("--parallel", action="store_true", help="one 3x3 job alone, then two side by side")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads of the new solver (the config's)")
    ap.add_argument("--old-limit", type=float, default=300.0, help="seconds an old solve may take")
    ap.add_argument("--no-old", action="store_true")
    ap.add_argument("--old-one", help=argparse.SUPPRESS)
    ap.add_argument("--old-out", help=argparse.SUPPRESS)
    ap.add_argument("--new-one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.old_one:
        (rho, res), t = _timed(old_solve_sector, CASES[args.old_one]())
        np.savez(args.old_out, rho=rho, res=res, t=t)
        return
    if args.new_one:
        system = CASES[args.new_one]()
        with threadpool_limits(args.threads):
            _, t = _timed(solve_sector, system)
        print(f"{t:.3f}")
        return
    if args.parallel:
        _parallel(args.threads)
        return
    names = list(CASES)[:6] + (list(CASES)[6:] if args.big else [])
    print(f"--threads {args.threads} for the new solver and QuTiP; old: the libraries' default threads")
    print(f"{'system':26s} {'unknowns':>8s} {'new s':>7s} {'old s':>8s} {'old/new':>7s} {'qutip s':>8s} "
          f"{'res new':>8s} {'res old':>8s} {'res qutip':>9s} {'|drho| old':>10s} {'|drho| qt':>9s}  solver")
    for name in names:
        system = CASES[name]()
        with threadpool_limits(args.threads):
            new, t_new = _timed(solve_sector, system)
        old_t, old_res, old_rho = (None, np.nan, None) if args.no_old or name in ("tfi ring 11", "tfi ring 12") \
            else _old_in_subprocess(name, args.old_limit)
        q_t, q_res, q_d = np.nan, np.nan, np.nan
        if system.n_sites <= 6:
            with threadpool_limits(args.threads):
                q, q_t = _timed(solve_qutip, system)
            q_res, q_d = q.relative_residual, np.abs(q.rho - new.rho).max()
        skipped = args.no_old or name in ("tfi ring 11", "tfi ring 12")
        old_s = "-" if skipped else (f"> {args.old_limit:.0f}" if old_t is None else f"{old_t:.2f}")
        ratio = f"{old_t / t_new:.1f}" if old_t else (f"> {args.old_limit / t_new:.0f}" if old_s.startswith(">") else "-")
        d_old = np.abs(old_rho - new.rho).max() if old_rho is not None else np.nan
        solver = new.info["linear_solver"].split(",")[0]
        if "iterations" in new.info:
            solver += f", {new.info['iterations']} products"
        print(f"{name:26s} {new.sector_dim:8d} {t_new:7.2f} {old_s:>8s} {ratio:>7s} {q_t:8.2f} "
              f"{new.relative_residual:8.1e} {old_res:8.1e} {q_res:9.1e} {d_old:10.1e} {q_d:9.1e}  {solver}",
              flush=True)


if __name__ == "__main__":
    main()
