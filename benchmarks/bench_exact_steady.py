"""Exact steady state: the symmetric-sector solver against QuTiP's default `steadystate`.

    python benchmarks/bench_exact_steady.py            # 2x2, 2x3, chain of 6 vs QuTiP; 3x3 sector only
    python benchmarks/bench_exact_steady.py --big      # adds the relaxation path on chains of 10

Each line: wall times of both solvers measured in the same run, their ratio, the relative residual
||L rho|| / ||rho|| of each, and the largest difference of the two density matrices.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np  # noqa: E402

from lindblad_nqs.exact.steady import solve_qutip, solve_sector  # noqa: E402
from lindblad_nqs.model import Jump, Lattice, SpinSystem  # noqa: E402


def heisenberg(shape, periodic=True, Jy=1.8):
    return SpinSystem(Lattice(shape, periodic), (0.9, Jy, 1.0), (0, 0, 0), (Jump("sigma_minus", 1.0),))


def tfi(n, g=1.0):
    return SpinSystem(Lattice((n,), True), (0, 0, 0.5), (g / 2, 0, 0), (Jump("sigma_minus", 1.0),))


def timed(fn, *a):
    t = time.perf_counter()
    out = fn(*a)
    return out, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--big", action="store_true")
    args = ap.parse_args()
    print(f"{'system':28s} {'sector s':>9s} {'qutip s':>9s} {'ratio':>7s} {'res sector':>11s} {'res qutip':>10s} {'max|drho|':>10s} dim")
    cases = [("heisenberg 2x2 periodic", heisenberg((2, 2))), ("heisenberg 2x3 open", heisenberg((2, 3), False)),
             ("tfi chain 6", tfi(6))]
    for name, s in cases:
        a, ta = timed(solve_sector, s)
        b, tb = timed(solve_qutip, s)
        print(f"{name:28s} {ta:9.2f} {tb:9.2f} {tb / ta:7.1f} {a.relative_residual:11.1e} {b.relative_residual:10.1e} "
              f"{np.abs(a.rho - b.rho).max():10.1e} {a.sector_dim}")
    a, ta = timed(solve_sector, heisenberg((3, 3)))
    print(f"{'heisenberg 3x3 (target <10s)':28s} {ta:9.2f} {'-':>9s} {'-':>7s} {a.relative_residual:11.1e} "
          f"{'-':>10s} {'-':>10s} {a.sector_dim}  sz={np.real(np.trace(a.rho @ np.kron(np.diag([1, -1]), np.eye(256)))):.6f}")
    if args.big:
        for name, s in [("tfi chain 10 (relaxation)", tfi(10)), ("rotated open 8 (relaxation)",
                         SpinSystem(Lattice((8,), False), (-0.5, 0, 0), (0, 0, 0.5), (Jump("sigma_minus", 1.0),)))]:
            a, ta = timed(solve_sector, s)
            print(f"{name:28s} {ta:9.2f} {'-':>9s} {'-':>7s} {a.relative_residual:11.1e} {'-':>10s} {'-':>10s} {a.sector_dim}")


if __name__ == "__main__":
    main()
