"""`--threads N` for every library that starts threads of its own.

BLAS (OpenBLAS/MKL), OpenMP, XLA and torch each size their thread pools when they are loaded, from
the number of cores, not from the Snakemake job's `threads:`. Two jobs side by side then run 2 x cores
threads, and the many small BLAS calls of a sparse or iterative solve spend their time waiting on each
other (a SuperLU factorisation measured 5x slower with OpenBLAS's default threads on a loaded machine
than with one). So the command line sets the environment before anything numerical is imported, and
limits what is already loaded with threadpoolctl.
"""

from __future__ import annotations

import os
import sys

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
              "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
# XLA has no flag for a thread count on the CPU; these two make it run its Eigen kernels (matrix
# products, convolutions) in the calling thread, the closest it offers to one thread.
XLA_ONE_THREAD = ("--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1")


def set_thread_env(n: int) -> dict[str, str]:
    """Environment for n threads; effective only for libraries not imported yet (returned: what was set)."""
    n = max(1, int(n))
    env = {k: str(n) for k in THREAD_ENV}
    if n == 1:
        flags = os.environ.get("XLA_FLAGS", "").split()
        missing = [f for f in XLA_ONE_THREAD if f.split("=")[0] not in {g.split("=")[0] for g in flags}]
        env["XLA_FLAGS"] = " ".join(flags + missing)
    os.environ.update(env)
    return env


def limit_threads(n: int):
    """A context manager limiting the thread pools already loaded (BLAS, OpenMP) to n threads, and
    torch's intra-op pool where torch is loaded."""
    from threadpoolctl import threadpool_limits

    n = max(1, int(n))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    return threadpool_limits(limits=n)


def thread_report(n: int) -> dict:
    """What the solve ran with, for the provenance."""
    from threadpoolctl import threadpool_info

    pools = sorted({f"{p['internal_api']}={p['num_threads']}" for p in threadpool_info()})
    out = {"threads": n, "thread_pools": pools, "xla_flags": os.environ.get("XLA_FLAGS", "")}
    if "torch" in sys.modules:
        out["torch_threads"] = sys.modules["torch"].get_num_threads()
    return out
