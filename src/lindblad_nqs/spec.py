"""The run spec: one YAML document describing a run, validated into typed objects.

Every error is a SpecError whose message names the offending key and the allowed values.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .model import JUMP_OPERATORS, PRODUCT_STATES, Jump, Lattice, SpinSystem
from .model.system import PRESETS
from .observables import Observable, parse_observable


class SpecError(ValueError):
    """A run spec that cannot be run, with a one-line reason."""


@dataclass(frozen=True)
class Task:
    kind: str  # steady | dynamics
    t_final: float = 0.0
    dt: float = 0.0
    save_every: float = 0.0
    initial: str = "z+"

    @property
    def save_times(self) -> np.ndarray:
        n = int(round(self.t_final / self.save_every))
        return np.linspace(0.0, n * self.save_every, n + 1)


@dataclass(frozen=True)
class RunSpec:
    system: SpinSystem
    task: Task
    method: str
    params: dict[str, Any]  # method hyperparameters as written (the method fills its defaults)
    observables: tuple[Observable, ...]
    seed: int
    raw: dict = field(repr=False, compare=False, default_factory=dict)

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True).encode()).hexdigest()[:16]


def _float_hint(value) -> str:
    """A hint for a number that YAML read as a string: YAML 1.1 wants a dot and a signed exponent (1.0e+3)."""
    if not isinstance(value, str):
        return ""
    try:
        x = float(value)
    except ValueError:
        return ""
    if not math.isfinite(x):
        return ""
    text = value.strip().lower().replace("_", "")
    if "e" not in text:
        return " (a number in quotes is a string: write it without quotes)"
    mantissa, exponent = text.split("e")
    if "." not in mantissa:
        mantissa += ".0"
    if exponent[:1] not in "+-":
        exponent = "+" + exponent
    return f" (YAML 1.1 reads {value} as a string: write {mantissa}e{exponent})"


def _number(value, key: str, minimum: float | None = None, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SpecError(f"{key} must be a number, got {value!r}{_float_hint(value)}")
    if not math.isfinite(value):
        raise SpecError(f"{key} must be a finite number, got {value!r}")
    if positive and not value > 0:
        raise SpecError(f"{key} must be positive, got {value!r}")
    if minimum is not None and value < minimum:
        raise SpecError(f"{key} must be >= {minimum}, got {value!r}")
    return float(value)


def _mapping(value, key: str, allowed: set[str]) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(f"{key} must be a mapping, got {value!r}")
    unknown = set(value) - allowed
    if unknown:
        raise SpecError(f"unknown key {key}.{sorted(unknown)[0]}; allowed: {', '.join(sorted(allowed))}")
    return value


def parse_system(raw) -> SpinSystem:
    raw = _mapping(raw, "system", {"lattice", "couplings", "field", "jumps", "preset"})
    if "lattice" not in raw:
        raise SpecError("system.lattice is missing; give e.g. {shape: [3, 3], boundary: periodic}")
    lat = _mapping(raw["lattice"], "system.lattice", {"shape", "boundary"})
    shape = lat.get("shape")
    if (not isinstance(shape, list) or len(shape) not in (1, 2)
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape)):
        raise SpecError(f"system.lattice.shape must be [N] or [Lx, Ly] with positive integers, got {shape!r}")
    boundary = lat.get("boundary", "periodic")
    if boundary not in ("periodic", "open"):
        raise SpecError(f"system.lattice.boundary must be periodic or open, got {boundary!r}")
    lattice = Lattice(tuple(shape), boundary == "periodic")

    if "preset" in raw:
        if any(k in raw for k in ("couplings", "field", "jumps")):
            raise SpecError("system.preset cannot be combined with system.couplings, field or jumps")
        preset = _mapping(raw["preset"], "system.preset", {"name", "V", "g", "gamma", "Jx", "Jy", "Jz", "B",
                                                            "hx", "hz", "dephasing"})
        name = preset.get("name")
        if name not in PRESETS:
            raise SpecError(f"unknown system.preset.name {name!r}; allowed: {', '.join(PRESETS)}")
        args = {k: _number(v, f"system.preset.{k}") for k, v in preset.items() if k != "name"}
        try:
            raw = PRESETS[name](**args)
        except TypeError as e:
            raise SpecError(f"system.preset {name}: {e}") from None

    c = _mapping(raw.get("couplings"), "system.couplings", {"Jx", "Jy", "Jz"})
    f = _mapping(raw.get("field"), "system.field", {"hx", "hy", "hz"})
    J = tuple(_number(c.get(k, 0.0), f"system.couplings.{k}") for k in ("Jx", "Jy", "Jz"))
    h = tuple(_number(f.get(k, 0.0), f"system.field.{k}") for k in ("hx", "hy", "hz"))
    jumps_raw = raw.get("jumps", [])
    if not isinstance(jumps_raw, list):
        raise SpecError(f"system.jumps must be a list of {{op, rate}}, got {jumps_raw!r}")
    jumps = []
    for k, jr in enumerate(jumps_raw):
        jr = _mapping(jr, f"system.jumps[{k}]", {"op", "rate"})
        if jr.get("op") not in JUMP_OPERATORS:
            raise SpecError(f"unknown jump operator system.jumps[{k}].op = {jr.get('op')!r}; "
                            f"allowed: {', '.join(JUMP_OPERATORS)}")
        if "rate" not in jr:
            raise SpecError(f"system.jumps[{k}].rate is missing")
        jumps.append(Jump(jr["op"], _number(jr["rate"], f"system.jumps[{k}].rate", minimum=0.0)))
    return SpinSystem(lattice, J, h, tuple(jumps))


def parse_task(raw) -> Task:
    raw = _mapping(raw, "task", {"kind", "t_final", "dt", "save_every", "initial"})
    kind = raw.get("kind")
    if kind == "steady":
        extra = set(raw) - {"kind"}
        if extra:
            raise SpecError(f"task.{sorted(extra)[0]} is only for task.kind dynamics")
        return Task("steady")
    if kind != "dynamics":
        raise SpecError(f"task.kind must be steady or dynamics, got {kind!r}")
    for key in ("t_final", "dt"):
        if key not in raw:
            raise SpecError(f"task.{key} is missing (required for dynamics)")
    t_final = _number(raw["t_final"], "task.t_final", positive=True)
    dt = _number(raw["dt"], "task.dt", positive=True)
    save = _number(raw.get("save_every", dt), "task.save_every", positive=True)
    if save < dt * (1 - 1e-9) or save > t_final * (1 + 1e-9):
        raise SpecError(f"task.save_every must lie between task.dt and task.t_final, got {save}")
    ratio = save / dt
    if abs(ratio - round(ratio)) > 1e-6:
        raise SpecError(f"task.save_every ({save}) must be a multiple of task.dt ({dt})")
    ratio = t_final / save
    if abs(ratio - round(ratio)) > 1e-6:
        raise SpecError(f"task.t_final ({t_final}) must be a multiple of task.save_every ({save}): the saved "
                        f"times would stop short of t_final or run past it")
    init = _mapping(raw.get("initial", {"product": "z+"}), "task.initial", {"product"})
    label = init.get("product")
    if label not in PRODUCT_STATES:
        raise SpecError(f"unknown task.initial.product {label!r}; allowed: {', '.join(PRODUCT_STATES)}")
    return Task("dynamics", t_final, dt, save, label)


def parse_spec(raw) -> RunSpec:
    from .methods import get_method

    if not isinstance(raw, dict):
        raise SpecError("the run spec must be a YAML mapping with system, task, method and observables")
    raw = _mapping(raw, "spec", {"name", "system", "task", "method", "observables", "seed", "notes"})
    for key in ("system", "task", "method", "observables"):
        if key not in raw:
            raise SpecError(f"{key} is missing from the run spec")
    system = parse_system(raw["system"])
    task = parse_task(raw["task"])
    method = raw["method"]
    if not isinstance(method, dict) or "name" not in method:
        raise SpecError("method must be a mapping with a name, e.g. {name: exact}")
    params = {k: v for k, v in method.items() if k != "name"}
    info = get_method(method["name"])
    for key, value in params.items():
        default = info.defaults.get(key)
        hint = _float_hint(value)
        if hint and isinstance(default, numbers.Real) and not isinstance(default, bool):
            raise SpecError(f"method.{key} must be a number, got {value!r}{hint}")
    if task.kind not in info.tasks:
        raise SpecError(f"method {info.name} does not solve task.kind {task.kind}; it solves: {', '.join(sorted(info.tasks))}")
    params = info.resolve(params)
    obs_raw = raw["observables"]
    if not isinstance(obs_raw, list) or not obs_raw:
        raise SpecError("observables must be a non-empty list of names")
    try:
        observables = tuple(parse_observable(o, system.lattice) for o in obs_raw)
    except ValueError as e:
        raise SpecError(str(e)) from None
    seen = set()
    for o in obs_raw:
        if str(o) in seen:
            raise SpecError(f"observable {o!r} is listed twice in observables")
        seen.add(str(o))
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SpecError(f"seed must be a non-negative integer, got {seed!r}")
    resolved = dict(raw, system=system.to_dict(), method={"name": info.name, **params}, seed=seed)
    spec = RunSpec(system, task, info.name, params, observables, seed, resolved)
    _method_hook(info, "check_spec", spec)
    return spec


def _method_hook(info, name: str, *args) -> None:
    """Call `name` of the solver module of `info` if it defines one. A solver module may define
    check_spec(spec): checks of its method keys that need no machine, run by parse_spec (so by solve,
    validate and the workflow's DAG construction); check_resources(spec, threads): whether the run fits
    this machine (memory), run by solve and validate before any computation. Both raise SpecError."""
    fn = getattr(sys.modules.get(info.solve.__module__), name, None)
    if fn is not None:
        fn(*args)


def check_resources(spec: RunSpec, threads: int = 1) -> None:
    """Refuse a run that will not fit this machine, before it starts (see _method_hook)."""
    from .methods import get_method

    _method_hook(get_method(spec.method), "check_resources", spec, threads)


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # the base class reports unhashable keys
            if key in seen:
                raise SpecError(f"duplicate key {key!r} at line {key_node.start_mark.line + 1} "
                                f"(first at line {seen[key] + 1}): each key may appear once")
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def load_spec(path: str | Path) -> RunSpec:
    return parse_spec(load_yaml(path, "run spec"))


def load_yaml(path: str | Path, what: str = "YAML file"):
    """A YAML document from a UTF-8 text file, every problem a one-line SpecError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SpecError(f"cannot read {what} {path}: {e.strerror}") from None
    if b"\0" in data:
        raise SpecError(f"{what} {path} is a binary file, not YAML text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(f"{what} {path} is not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SpecError(f"malformed YAML in {path}{where}: {problem}") from None
