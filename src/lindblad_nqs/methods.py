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
class Key:
    """One hyperparameter of a method: its default, type, allowed values and a one-line doc. The
    validator (MethodInfo.resolve), `lindblad-nqs methods NAME` and the README read this one table.

    type: bool | int | float | str | list | dict (float accepts integers and stores a float).
    choices: the allowed values. minimum / maximum: inclusive bounds; positive: > 0; below: strict upper
    bound. nullable: None is allowed too (the solver gives it its meaning, stated in doc)."""

    default: Any
    type: type
    doc: str
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False
    below: float | None = None
    nullable: bool = False

    def __post_init__(self):
        if self.type not in _TYPE_NAMES:
            raise TypeError(f"Key type must be one of {', '.join(t.__name__ for t in _TYPE_NAMES)}, got {self.type!r}")
        if not (self.nullable and self.default is None) and self.problem(self.default) is not None:
            raise ValueError(f"Key default {self.default!r} is not allowed by its own table: {self.problem(self.default)}")

    def allowed(self) -> str:
        """The allowed values in words, e.g. 'one of l2, ldagl', 'integer >= 1', 'number in (0, 1]'."""
        if self.choices is not None:
            text = _choice_words(self.choices)
        else:
            text = _TYPE_NAMES[self.type]
            lo = "(0" if self.positive else (f"[{self.minimum:g}" if self.minimum is not None else None)
            hi = f"{self.below:g})" if self.below is not None else (f"{self.maximum:g}]" if self.maximum is not None else None)
            if lo and hi:
                text += f" in {lo}, {hi}"
            elif lo:
                text += " > 0" if self.positive else f" >= {self.minimum:g}"
            elif hi:
                text += f" < {self.below:g}" if self.below is not None else f" <= {self.maximum:g}"
        return text + (" or null" if self.nullable else "")

    def _words(self) -> str:
        text = self.allowed()
        if self.choices is not None or self.type is bool:
            return text
        return ("an " if text[0] in "aeiou" else "a ") + text

    def problem(self, value) -> str | None:
        """Why `value` is not allowed (the end of a one-line message), or None when it is."""
        if value is None and self.nullable:
            return None
        t = self.type
        if t is float:
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        elif t is int:
            ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        else:
            ok = isinstance(value, t)
        if not ok:
            like = "" if self.choices is not None or t is bool or self.default is None else f" (like {self.default!r})"
            return f"must be {self._words()}{like}, got {value!r}"
        if self.choices is not None:
            return None if value in self.choices else f"must be {self._words()}, got {value!r}"
        if t in (int, float):
            bad = ((self.positive and not value > 0) or (self.minimum is not None and not value >= self.minimum)
                   or (self.maximum is not None and not value <= self.maximum)
                   or (self.below is not None and not value < self.below))
            if bad:
                unbounded = self.maximum is None and self.below is None
                if t is int and unbounded and (self.positive or self.minimum == 1):
                    return f"must be a positive integer, got {value!r}"
                if t is float and unbounded and self.positive:
                    return f"must be positive, got {value!r}"
                return f"must be {self._words()}, got {value!r}"
        return None


_TYPE_NAMES = {bool: "true or false", int: "integer", float: "number", str: "string", list: "list", dict: "mapping"}


def _choice_words(choices) -> str:
    words = [str(c).lower() if isinstance(c, bool) else str(c) for c in choices]
    return " or ".join(words) if len(words) == 2 else "one of " + ", ".join(words)


@dataclass(frozen=True)
class MethodInfo:
    name: str
    solve: Callable
    keys: dict[str, Key]
    tasks: frozenset[str]
    uses_gpu: bool = False  # a neural method, which the pipeline places on a GPU when the config has one
    framework: str = "numpy"  # jax: the command line starts JAX's client with --threads threads

    def __post_init__(self):
        plain = [k for k, v in self.keys.items() if not isinstance(v, Key)]
        if plain:  # one table per method: every key has its type, range and doc
            raise TypeError(f"method {self.name}: give a methods.Key for {', '.join(plain)}")

    @property
    def defaults(self) -> dict[str, Any]:
        return {k: key.default for k, key in self.keys.items()}

    def resolve(self, params: dict) -> dict:
        from .spec import SpecError

        out = self.defaults
        for name, value in params.items():
            if name not in self.keys:
                allowed = ", ".join(sorted(self.keys)) or "none"
                raise SpecError(f"unknown key method.{name} for method {self.name}; allowed: {allowed}")
            key = self.keys[name]
            why = key.problem(value)
            if why is not None:
                raise SpecError(f"method.{name} {why}")
            out[name] = float(value) if key.type is float and value is not None else value
        return out


_REGISTRY: dict[str, MethodInfo] = {}


def register(name: str, keys: dict[str, Key], tasks=("steady", "dynamics"), uses_gpu: bool = False,
             framework: str = "numpy"):
    """Register a solver under `name` with its hyperparameter table `keys` (name -> Key)."""
    def deco(fn):
        _REGISTRY[name] = MethodInfo(name, fn, dict(keys), frozenset(tasks), uses_gpu, framework)
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
    raise SpecError(f"unknown method.name {name!r}; allowed: {', '.join(sorted(methods))}")
