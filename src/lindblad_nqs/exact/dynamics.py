"""Exact dynamics: matrix exponential in the symmetric sector, QuTiP's mesolve, and quantum trajectories."""

from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterator

import numpy as np
from scipy.sparse.linalg import expm_multiply

from ..model import SpinSystem
from .expectation import pauli_expectation
from .sector import SymmetricSector

Expect = Callable[[dict[int, str]], float]


def evolve_sector(system: SpinSystem, initial: str, times: np.ndarray) -> Iterator[tuple[float, np.ndarray]]:
    """(t, rho(t)) at evenly spaced `times`, from the uniform product state `initial`."""
    sec = SymmetricSector.build(system)
    c0 = sec.product_state(initial)
    states = expm_multiply(sec.M, c0, start=times[0], stop=times[-1], num=len(times), endpoint=True)
    for t, c in zip(times, states):
        yield float(t), sec.expand(c)


def evolve_trapezoid(system: SpinSystem, initial: str, times: np.ndarray, dt: float
                     ) -> Iterator[tuple[float, np.ndarray]]:
    """(t, rho(t)) of the trapezoid (Crank-Nicolson) integration with steps dt = 2 tau,
    (1 - tau L) rho(t + 2 tau) = (1 + tau L) rho(t): luo2022's Eq. 4 with the exact distribution. The POVM
    map is linear and invertible, so this is the trapezoid of p as well; what separates it from
    evolve_sector is the time-step error alone."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    sec = SymmetricSector.build(system)
    tau = dt / 2
    eye = sp.identity(sec.dim, dtype=complex, format="csc")
    lu = splu((eye - tau * sec.M).tocsc())
    forward = (eye + tau * sec.M).tocsr()
    c, step = sec.product_state(initial).astype(complex), 0
    for t in times:
        target = int(round(t / dt))
        if abs(target * dt - t) > 1e-9 * max(1.0, abs(t)):
            raise ValueError(f"save time {t} is not a multiple of the step {dt}")
        for _ in range(target - step):
            c = lu.solve(forward @ c)
        step = target
        yield float(t), sec.expand(c)


def evolve_mesolve(system: SpinSystem, initial: str, times: np.ndarray) -> Iterator[tuple[float, np.ndarray]]:
    import qutip

    from .qutip_model import collapse_operators, hamiltonian, product_ket

    psi = product_ket(system, initial)
    res = qutip.mesolve(hamiltonian(system), psi * psi.dag(), times, collapse_operators(system),
                        options={"store_states": True, "atol": 1e-10, "rtol": 1e-8})
    for t, rho in zip(times, res.states):
        yield float(t), rho.full()


def trajectories(system: SpinSystem, initial: str, times: np.ndarray, strings: list[dict[int, str]],
                 ntraj: int, seed: int, threads: int = 1):
    """Monte Carlo wave-function estimates of Pauli strings: (mean, stderr, per-trajectory values),
    each indexed [string, time]. Without jumps the one deterministic trajectory is the exact answer."""
    import qutip

    from .qutip_model import collapse_operators, hamiltonian, product_ket

    n = system.n_sites
    e_ops = {k: _PauliEop(n, s) for k, s in enumerate(strings)}
    psi = product_ket(system, initial)
    c_ops = collapse_operators(system)
    if not c_ops:
        res = qutip.sesolve(hamiltonian(system), psi, times, e_ops=e_ops, options={"atol": 1e-10, "rtol": 1e-8})
        mean = np.array([np.real(res.e_data[k]) for k in range(len(strings))])
        return mean, np.zeros_like(mean), mean[:, None, :], 1
    # QuTiP's default ODE tolerances (1e-8 abs, 1e-6 rel) sit far below the statistical error of a few
    # hundred trajectories; tighter ones cost about twice the time per trajectory.
    options = {"keep_runs_results": True, "progress_bar": False}
    if threads > 1:
        options |= {"map": "parallel", "num_cpus": threads}
        # the threads are the worker processes; each of them on one BLAS/OpenMP thread (forked workers
        # inherit the limit, spawned ones the environment), or `threads` workers run threads^2 threads
        with _one_thread_per_process():
            res = qutip.mcsolve(hamiltonian(system), psi, times, c_ops, e_ops=e_ops, ntraj=ntraj, seeds=seed,
                                options=options)
    else:
        res = qutip.mcsolve(hamiltonian(system), psi, times, c_ops, e_ops=e_ops, ntraj=ntraj, seeds=seed,
                            options=options)
    runs = np.array([np.real(np.asarray(res.runs_e_data[k])) for k in range(len(strings))])  # (S, ntraj, T)
    ntraj_done = runs.shape[1]
    mean = runs.mean(axis=1)
    stderr = runs.std(axis=1, ddof=1) / np.sqrt(ntraj_done) if ntraj_done > 1 else np.zeros_like(mean)
    return mean, stderr, runs, ntraj_done


@contextlib.contextmanager
def _one_thread_per_process():
    from threadpoolctl import threadpool_limits

    from ..threads import THREAD_ENV

    saved = {k: os.environ.get(k) for k in THREAD_ENV}
    os.environ.update({k: "1" for k in THREAD_ENV})
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class _PauliEop:
    """A picklable e_op for QuTiP's parallel map: the Pauli-string expectation of a ket."""

    def __init__(self, n: int, string: dict[int, str]):
        self.n, self.string = n, string

    def __call__(self, t, state):
        return pauli_expectation(state.full().ravel(), self.n, self.string)


def dense_expect(rho: np.ndarray, n: int) -> Expect:
    cache: dict = {}

    def expect(string):
        key = tuple(sorted(string.items()))
        if key not in cache:
            cache[key] = pauli_expectation(rho, n, string)
        return cache[key]

    return expect
