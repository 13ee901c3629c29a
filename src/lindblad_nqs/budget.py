"""The error-vs-budget figure's settings (the `budget:` section of config/cross_method.yaml) and which
networks get a fit-to-exact floor (floor.py fits them; this module imports no network code, so that
the workflow and the figures can read it)."""

from __future__ import annotations

import json

DM_METHODS = ("cnn", "rbm_ndo")
POVM_METHODS = ("transformer",)
METHODS = DM_METHODS + POVM_METHODS
MAX_CONFIGS = 1 << 16  # configurations enumerated per fit step (doubled configurations or POVM strings)
FLOOR_OPTIMIZERS = ("auto", "lbfgs", "adam")
# the floor fit's settings (`lindblad-nqs floor`, budget.floor; floor.py): lbfgs: L-BFGS after `warmup`
# Adam steps of rate lr, at most `steps` iterations, stopped when `window` iterations lower the loss by
# less than `tol` of itself; adam: `steps` Adam steps (the fit of before, kept for comparison); auto:
# lbfgs for the density-matrix networks, `steps` Adam steps on a cheaper exact KL for the transformer
FLOOR_DEFAULTS = {"optimizer": "auto", "steps": 1000, "lr": 0.01, "tol": 1e-2, "window": 10, "warmup": 100,
                  "max_configs": MAX_CONFIGS}


class FloorError(ValueError):
    """A floor that cannot be computed (method, task or size), with a one-line reason."""


def floor_settings_problem(settings: dict, name=str) -> str | None:
    """What is wrong with floor settings (the keys of FLOOR_DEFAULTS), each key called name(key) in the
    message (a command-line flag or a config key); None when a fit can run with them."""
    def count(k, least):
        v = settings[k]
        return isinstance(v, int) and not isinstance(v, bool) and v >= least

    def positive(k):  # also refuses NaN
        v = settings[k]
        return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0

    if settings["optimizer"] not in FLOOR_OPTIMIZERS:
        return f"{name('optimizer')} must be one of {', '.join(FLOOR_OPTIMIZERS)}, got {settings['optimizer']!r}"
    for k, least in (("steps", 1), ("window", 1), ("max_configs", 1), ("warmup", 0)):
        if not count(k, least):
            return f"{name(k)} must be an integer >= {least}, got {settings[k]!r}"
    for k in ("lr", "tol"):
        if not positive(k):
            return f"{name(k)} must be > 0, got {settings[k]!r}"
    return None


# the method keys that define a network's function class (not its optimiser, sampler or initial scale):
# runs whose networks agree on these share one floor
NETWORK_KEYS = {"cnn": ("features", "kernels", "padding", "pooling", "hermitian", "basis"),
                "rbm_ndo": ("alpha", "ancilla"),
                "transformer": ("povm", "n_layers", "d_model", "n_heads", "d_ff", "strings", "dtype")}


def network_id(method: str, params: dict) -> str:
    """One string per (method, network): equal for runs that differ only in how they train."""
    return json.dumps([method, {k: params.get(k) for k in NETWORK_KEYS[method]}], sort_keys=True)


def n_configurations(spec) -> int:
    """Configurations one fit step enumerates: doubled configurations (half of them in the Z-parity
    sector where the model, in the basis the run trains in, conserves it) or POVM strings."""
    n = spec.system.n_sites
    if spec.method in POVM_METHODS:
        return 4**n
    system = spec.system.in_x_basis() if spec.params.get("basis") == "x" else spec.system
    return 4**n // (2 if system.conserves_z_parity() else 1)


def load_budget(path) -> dict | None:
    """The `budget:` section of the cross-method file (None without one): which of its references get
    the error-vs-budget figure, and the floor fit's settings; each entry checked against the references."""
    from .claims import ClaimsError
    from .review import load_panels
    from .spec import SpecError, load_yaml

    refs = {(r["run"], str(r.get("point", "base"))): r for r in load_panels(path)}
    try:
        doc = load_yaml(path, "cross-method file")
    except SpecError as e:
        raise ClaimsError(str(e)) from None
    if "budget" not in doc:
        return None
    doc = doc["budget"]
    if not isinstance(doc, dict) or not isinstance(doc.get("references"), list) or not doc["references"]:
        raise ClaimsError(f"{path}: budget: needs a non-empty list `references:` of {{run, point}}")
    unknown = sorted(set(doc) - {"references", "floor"})
    if unknown:
        raise ClaimsError(f"{path}: budget: unknown key {unknown[0]} (allowed: references, floor)")
    chosen = []
    for i, r in enumerate(doc["references"]):
        key = (r.get("run"), str(r.get("point", "base"))) if isinstance(r, dict) else None
        if key not in refs:
            raise ClaimsError(f"{path}: budget.references[{i}]: {r!r} is not one of the file's references "
                              f"(run and point as there)")
        chosen.append(refs[key])
    floor = {**FLOOR_DEFAULTS, **(doc.get("floor") or {})}
    bad = sorted(set(floor) - set(FLOOR_DEFAULTS))
    if bad:
        raise ClaimsError(f"{path}: budget.floor: unknown key {bad[0]} (allowed: {', '.join(FLOOR_DEFAULTS)})")

    problem = floor_settings_problem(floor, lambda k: f"budget.floor.{k}")
    if problem:
        raise ClaimsError(f"{path}: {problem}")
    return {"references": chosen, "floor": floor}


def budget_points(budget: dict, runs: dict) -> dict:
    """{(run, point): Point} of the config that the figure reads: each budget reference's exact point and
    every point that solves its system and task (pipeline.Point's spec)."""
    out = {}
    for ref in budget["references"]:
        key = (ref["run"], str(ref.get("point", "base")))
        rpoint = runs.get(key[0], {}).get(key[1])
        if rpoint is None:
            continue
        out[key] = rpoint
        for run in sorted(runs):
            for label, pt in sorted(runs[run].items()):
                if pt.spec.get("system") == rpoint.spec.get("system") and pt.spec.get("task") == rpoint.spec.get("task"):
                    out[(run, label)] = pt
    return out


def floor_points(budget: dict, runs: dict) -> dict:
    """{(run, point): Point} whose network gets a floor: the budget points of a floor method that start
    from scratch, one per distinct network and system, within the size limit."""
    from .spec import parse_spec

    out, seen = {}, set()
    for (run, label), pt in budget_points(budget, runs).items():
        raw = pt.spec
        if raw.get("method", {}).get("name") not in METHODS or pt.init is not None:
            continue
        spec = parse_spec(raw)
        nid = (network_id(spec.method, spec.params), json.dumps(raw["system"], sort_keys=True))
        if nid in seen or n_configurations(spec) > budget["floor"]["max_configs"]:
            continue
        seen.add(nid)
        out[(run, label)] = pt
    return out
