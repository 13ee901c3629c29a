"""The method registry. A solver module in lindblad_nqs.solvers registers itself with @register, so a
new method is a new module there and nothing else in the package changes.

A solver is a function solve(spec: RunSpec, ctx: RunContext) -> Result. Solver modules keep heavy
imports (jax, torch, qutip) inside their functions so that discovering the methods stays fast.
"""

from __future__ import annotations

import importlib
import numbers
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

# Methods of DESIGN.md that later work adds; named here only to give a clear message until then.
PLANNED = ("cnn", "rbm_ndo", "rbm_tdvp", "transformer", "rnn_tdvp")


@dataclass
class RunContext:
    state_dir: Path  # checkpoints and large artifacts of this run; a rerun resumes from them
    threads: int = 1
    progress: bool = False
    init_state: Path | None = None  # state dir of another run to start from (transfer learning, var+dyn)


@dataclass
class Result:
    rows: list[tuple[float | None, str, float, float]]  # (t, observable, value, stderr)
    info: dict[str, Any] = field(default_factory=dict)  # goes into the provenance JSON
    history: pd.DataFrame | None = None  # one row per iteration, written as CSV beside the result


@dataclass(frozen=True)
class MethodInfo:
    name: str
    solve: Callable
    defaults: dict[str, Any]
    tasks: frozenset[str]

    def resolve(self, params: dict) -> dict:
        from .spec import SpecError

        out = dict(self.defaults)
        for key, value in params.items():
            if key not in self.defaults:
                allowed = ", ".join(sorted(self.defaults)) or "none"
                raise SpecError(f"unknown key method.{key} for method {self.name}; allowed: {allowed}")
            default = self.defaults[key]
            ok = (
                default is None
                or (isinstance(default, bool) and isinstance(value, bool))
                or (isinstance(default, int) and not isinstance(default, bool)
                    and isinstance(value, int) and not isinstance(value, bool))
                or (isinstance(default, float) and isinstance(value, numbers.Real) and not isinstance(value, bool))
                or (isinstance(default, str) and isinstance(value, str))
                or (isinstance(default, (list, dict)) and isinstance(value, type(default)))
            )
            if not ok:
                raise SpecError(f"method.{key} must be of type {type(default).__name__} like {default!r}, got {value!r}")
            out[key] = float(value) if isinstance(default, float) else value
        return out


_REGISTRY: dict[str, MethodInfo] = {}


def register(name: str, defaults: dict[str, Any], tasks=("steady", "dynamics")):
    def deco(fn):
        _REGISTRY[name] = MethodInfo(name, fn, dict(defaults), frozenset(tasks))
        return fn

    return deco


def discover() -> dict[str, MethodInfo]:
    from . import solvers

    for mod in pkgutil.iter_modules(solvers.__path__):
        importlib.import_module(f"{solvers.__name__}.{mod.name}")
    return _REGISTRY


def get_method(name) -> MethodInfo:
    from .spec import SpecError

    methods = discover()
    if name in methods:
        return methods[name]
    if name in PLANNED:
        raise SpecError(f"method {name!r} is not available yet in this version; available: {', '.join(sorted(methods))}")
    raise SpecError(f"unknown method.name {name!r}; allowed: {', '.join(sorted(methods) + [p for p in PLANNED if p not in methods])}")
