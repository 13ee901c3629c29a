"""Checks that stand between a solver and the files it writes, and the memory a run may take.

A result is written only when it is physically possible: every value and stderr finite, every Pauli
expectation within [-1, 1] (a connected correlator within [-2, 2]) up to its statistical error, and the
optimiser having moved at all. A solver reports an optimiser that never accepted a step through
info["accepted_steps"] == 0 (or a history column "accepted" that is never true); info["warning"] is a
warning that the CLI repeats on stderr (it is in the review table through the provenance).
"""

from __future__ import annotations

import math
import os

# an exact expectation lies within the bound up to rounding; a sampled one up to Z_BOUND stderr
BOUND_TOL = 1e-6
Z_BOUND = 5.0
MEMORY_FRACTION = 0.8
MEMORY_ENV = "LINDBLAD_NQS_MEMORY_GB"


class RunError(ValueError):
    """A run whose result cannot be trusted (reported like a bad spec: one line, exit 2, no output)."""


def _fmt_t(t) -> str:
    return "" if t is None or (isinstance(t, float) and math.isnan(t)) else f" at t = {t:g}"


def check_rows(rows, observables, info: dict | None = None, history=None) -> list[str]:
    """Raise RunError for a result that must not be written; return the warnings to show."""
    info = info or {}
    if info.get("accepted_steps") == 0:
        raise RunError("the optimiser never accepted a step: the result is the initial state, not a solution "
                       "(lower the step size or change the optimiser)")
    if history is not None and "accepted" in getattr(history, "columns", ()) and len(history) \
            and not history["accepted"].astype(bool).any():
        raise RunError(f"the optimiser never accepted a step in {len(history)} iterations: the result is the "
                       "initial state, not a solution (lower the step size or change the optimiser)")
    if not rows:
        raise RunError("the solver returned no result rows")
    by_name = {o.name: o for o in observables}
    for t, name, value, err in rows:
        for what, x in (("value", value), ("stderr", err)):
            if x is None or not math.isfinite(float(x)):
                raise RunError(f"the {what} of {name}{_fmt_t(t)} is {x}: the run diverged or failed "
                               "(non-finite result)")
        if err < 0:
            raise RunError(f"the stderr of {name}{_fmt_t(t)} is negative ({err})")
        obs = by_name.get(name)
        if obs is None:
            continue
        bound = 2.0 if obs.connected else 1.0
        if abs(value) > bound + Z_BOUND * err + BOUND_TOL:
            raise RunError(f"{name}{_fmt_t(t)} = {value:.6g} +- {err:.2g} lies outside [-{bound:g}, {bound:g}] "
                           f"by more than {Z_BOUND:g} stderr: an impossible Pauli expectation (the run diverged)")
    warning = info.get("warning")
    return [str(warning)] if warning else []


# --- memory --------------------------------------------------------------------------------------
def _physical_memory() -> int:
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def memory_limit() -> tuple[int, str]:
    """The memory one run may plan to use, in bytes, and where that number comes from."""
    env = os.environ.get(MEMORY_ENV)
    if env:
        try:
            return int(float(env) * 2**30), f"{MEMORY_ENV}={env}"
        except ValueError:
            pass
    total = _physical_memory()
    return int(MEMORY_FRACTION * total), f"{MEMORY_FRACTION:.0%} of this machine's {fmt_bytes(total)}"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PiB"


def require_memory(needed: float, what: str, hint: str) -> None:
    """Refuse, before any allocation, a run whose estimated peak memory exceeds the limit."""
    from .spec import SpecError

    limit, source = memory_limit()
    if needed > limit:
        raise SpecError(f"{what} needs about {fmt_bytes(needed)} of memory, more than the limit of "
                        f"{fmt_bytes(limit)} ({source}); {hint}")
