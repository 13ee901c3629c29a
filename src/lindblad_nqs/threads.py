"""`--threads N` for every library that starts threads of its own.

BLAS (OpenBLAS/MKL), OpenMP, XLA and torch each size their thread pools when they are loaded, from
the number of cores, not from the Snakemake job's `threads:`. Two jobs side by side then run 2 x cores
threads, and the many small BLAS calls of a sparse or iterative solve spend their time waiting on each
other (a SuperLU factorisation measured 5x slower with OpenBLAS's default threads on a loaded machine
than with one). So the command line sets the environment before anything numerical is imported,
limits what is already loaded with threadpoolctl, and starts JAX's CPU client with n threads
(start_jax).
"""

from __future__ import annotations

import os
import sys

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
              "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def set_thread_env(n: int) -> dict[str, str]:
    """Environment for n threads; effective only for libraries not imported yet (returned: what was set)."""
    n = max(1, int(n))
    env = {k: str(n) for k in THREAD_ENV}
    os.environ.update(env)
    return env


def start_jax(n: int) -> None:
    """Create JAX's CPU client with an intra-op pool of n threads (no-op where it exists already).

    XLA has no flag for that pool's size (the Eigen flags once used for it, --xla_cpu_multi_thread_eigen
    and intra_op_parallelism_threads, change nothing in jax 0.10: a jitted matrix product still runs on
    both cores): it counts the CPUs the process may run on when the client is created. So the process
    is restricted to n CPUs while the client starts, and every thread is given all of them back after,
    so that two jobs of n threads never share n cores by their pinning (benchmarks/bench_jax_threads.py).
    """
    import jax

    if not hasattr(os, "sched_setaffinity"):  # macOS, Windows: no affinity to set; XLA takes every core
        return
    allowed = os.sched_getaffinity(0)
    if _jax_started() or n >= len(allowed):
        return
    os.sched_setaffinity(0, sorted(allowed)[:max(1, int(n))])
    try:
        jax.devices()
    finally:
        for task in _task_dirs():
            try:
                os.sched_setaffinity(int(os.path.basename(task)), allowed)
            except OSError:  # a thread that ended meanwhile
                pass


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
    out = {"threads": n, "thread_pools": pools}
    if "jax" in sys.modules and _jax_started():
        out["xla_threads"] = xla_threads()
    if "torch" in sys.modules:
        out["torch_threads"] = sys.modules["torch"].get_num_threads()
    return out


def _jax_started() -> bool:
    """Whether JAX's clients exist already (a private function of JAX; without it, assume not: sizing a
    client that exists changes nothing and harms nothing)."""
    try:
        from jax._src.xla_bridge import backends_are_initialized
    except ImportError:
        return False
    return backends_are_initialized()


def _task_dirs() -> list[str]:
    """/proc/self/task/TID of every thread of this process (none where /proc does not exist)."""
    import glob

    return glob.glob("/proc/self/task/*")


def xla_threads() -> int:
    """Threads of XLA's intra-op pool in this process (they are named tf_XLAEigen)."""
    n = 0
    for task in _task_dirs():
        try:
            n += open(f"{task}/comm").read().strip().startswith("tf_XLAEigen")
        except OSError:  # a thread that ended meanwhile
            pass
    return n
