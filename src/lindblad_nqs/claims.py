"""The papers' quantitative statements, re-measured from this pipeline's results (config/claims.yaml).

A claim is one published number (or bound), the tolerance that counts as reproducing it, and the
quantity of our runs that measures it. A quantity is a tree of leaves, each read from one run point's
result table or provenance, combined by an arithmetic expression:

    observable   a run point's observable (value and stderr), at one time (default: the last)
    deviation    max over times and observables of |run - reference| (or relative to the reference)
    provenance   a number of result.json (n_params, wall_time_s, rho_positive_sum, ...)
    spec         a key of the run's spec (method keys fall back to the method's default)
    n_sites      the run's lattice size
    sum_rule     sz + 1 - (2 hx sy - 2 hy sx) / gamma, zero in every steady state of a model with
                 Jx = Jy = 0 and sigma^- decay at rate gamma (see `sz_sum_rule`)
    sum_rule_all the largest |sum_rule| over every non-exact steady state of the config that has the
                 rule and reports sy and sz: each neural Ising result, whatever its run or size
    expr         an expression of named sub-quantities; uncertainties are propagated linearly

A leaf may say `at: {n_sites: 16, method.hidden: 12}`: the paper's statement is about that size and
setup, and a run with another one does not measure it ("not measured at this size"). A run that is
not in the active config, or has no result, does not measure it either. Neither counts as passing.
"""

from __future__ import annotations

import ast
import json
import math
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

YES, NO = "yes", "no"
NOT_AT_SIZE = "not measured at this size"
NOT_MEASURED = "not measured"
COMPARE = {
    "approx": ("|ours - paper| <= tol", lambda ours, paper, tol: abs(ours - paper) <= tol),
    "le": ("ours <= paper + tol", lambda ours, paper, tol: ours <= paper + tol),
    "ge": ("ours >= paper - tol", lambda ours, paper, tol: ours >= paper - tol),
}
LEAF_KEYS = {
    "observable": ({"run", "observable"}, {"point", "t", "at"}),
    "deviation": ({"run", "reference", "observables"}, {"point", "reference_point", "relative", "t_max", "at",
                                                      "reference_at", "other_size", "final_time"}),
    "provenance": ({"run", "key"}, {"point", "at"}),
    "spec": ({"run", "key"}, {"point", "at"}),
    "n_sites": ({"run"}, {"point", "at"}),
    "sum_rule": ({"run"}, {"point", "at"}),
    "sum_rule_all": (set(), set()),
    "expr": ({"expr", "of"}, set()),
}
CLAIM_KEYS = ({"id", "paper", "source", "claim", "published", "tolerance", "quantity"}, {"compare", "note"})
PAPERS = ("hartmann2019", "reh2021", "luo2022", "mellak2024")
GROUPS = PAPERS + ("identities",)  # identities: exact relations every run of a model must obey
COLUMNS = ["id", "paper", "claim", "source", "published", "ours", "uncertainty", "tolerance", "criterion",
           "reproduced", "runs", "note"]


class ClaimsError(ValueError):
    """A claims file that cannot be evaluated, with a one-line reason naming the entry."""


class NotMeasured(Exception):
    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass
class Measured:
    value: float
    stderr: float


# --- the sum rule --------------------------------------------------------------------------------

def sz_sum_rule(system) -> tuple[float, float, float] | None:
    """(a, b, gamma) with gamma (1 + <Z>) = a <Y> + b <X> in every steady state, or None if the model
    has no such closed rule.

    d<Z_i>/dt = <i[H, Z_i]> + <D^dag(Z_i)>. With Jx = Jy = 0 the bonds commute with Z_i and only the field
    acts: i[hx X + hy Y, Z] = 2 hx Y - 2 hy X (X Z = -iY, Y Z = iX). For L = sigma^- = |down><up| at rate
    gamma, D^dag(Z) = gamma (L^dag Z L - {L^dag L, Z}/2) = -gamma (1 + Z), since L^dag L = (1 + Z)/2 and
    L^dag Z L = -(1 + Z)/2; dephasing L = Z commutes with Z and adds nothing. The time derivative
    vanishes in a steady state: gamma (1 + <Z>) = 2 hx <Y> - 2 hy <X>. For the TFI chain (hx = g/2)
    this is <sz> = -1 + (g / gamma) <sy>; it holds site by site, so also for site averages, at any size.
    """
    Jx, Jy, _ = system.J
    if Jx != 0.0 or Jy != 0.0 or any(j.basis != "z" for j in system.jumps):
        return None
    if any(j.op not in ("sigma_minus", "sigma_z") for j in system.jumps):
        return None
    gamma = sum(j.rate for j in system.jumps if j.op == "sigma_minus")
    if gamma <= 0:
        return None
    hx, hy, _ = system.h
    return 2 * hx, -2 * hy, gamma


# --- reading results -----------------------------------------------------------------------------

class Results:
    """The result tables and provenance of the run points of one pipeline config."""

    def __init__(self, result_files):
        self.dirs: dict[tuple[str, str], Path] = {}
        for csv in result_files:
            csv = Path(csv)
            notes = (self._json(csv.with_suffix(".json"))["spec"].get("notes") or {})
            key = (notes.get("run") or csv.parent.parent.name, notes.get("point") or csv.parent.name)
            self.dirs[key] = csv.parent
        self.runs = {run for run, _ in self.dirs}
        self._tables: dict[tuple[str, str], pd.DataFrame] = {}
        self.used: list[tuple[str, str]] = []  # the run points a measurement read, in order

    @staticmethod
    def _json(path: Path) -> dict:
        return json.loads(Path(path).read_text())

    def _dir(self, run: str, point: str) -> Path:
        if run not in self.runs:
            raise NotMeasured(NOT_MEASURED, f"run {run} is not in this config")
        if (run, point) not in self.dirs:
            points = sorted(p for r, p in self.dirs if r == run)
            raise NotMeasured(NOT_MEASURED, f"run {run} has no point {point} here (points: {', '.join(points)})")
        return self.dirs[(run, point)]

    def provenance(self, run: str, point: str) -> dict:
        return self._json(self._dir(run, point) / "result.json")

    def table(self, run: str, point: str) -> pd.DataFrame:
        if (run, point) not in self._tables:
            self._tables[(run, point)] = pd.read_csv(self._dir(run, point) / "result.csv")
        return self._tables[(run, point)]

    def system(self, run: str, point: str):
        from .spec import parse_system

        return parse_system(self.provenance(run, point)["spec"]["system"])


def _dotted(d: dict, key: str):
    for k in key.split("."):
        if not isinstance(d, dict) or k not in d:
            raise KeyError(key)
        d = d[k]
    return d


def _spec_value(spec: dict, key: str):
    try:
        return _dotted(spec, key)
    except KeyError:
        if key.startswith("method."):
            from .methods import get_method

            keys = get_method(spec["method"]["name"]).keys
            name = key.split(".", 1)[1]
            if name in keys:
                return keys[name].default
        raise


def _n_sites(spec: dict) -> int:
    return math.prod(spec["system"]["lattice"]["shape"])


def _check_at(res: Results, run: str, point: str, at: dict | None) -> None:
    """NotMeasured unless the run point has the size and settings the paper's statement is about."""
    if not at:
        return
    spec = res.provenance(run, point)["spec"]
    for key, want in at.items():
        if key == "n_sites":
            have = _n_sites(spec)
            if have != want:
                raise NotMeasured(NOT_AT_SIZE, f"{run}: N = {have} here, {want} in the paper")
            continue
        try:
            have = _spec_value(spec, key)
        except KeyError:
            have = None
        if have != want:
            raise NotMeasured(NOT_AT_SIZE, f"{run}: {key} = {have} here, {want} in the paper")


def _rows(df: pd.DataFrame, observable: str) -> pd.DataFrame:
    rows = df[df["observable"] == observable]
    if rows.empty:
        raise NotMeasured(NOT_MEASURED, f"no observable {observable} in the result")
    return rows


def _observable(res: Results, run: str, point: str, observable, t=None) -> Measured:
    """One observable (or the first of a list the run reports: the configs' names for one pair)."""
    table = res.table(run, point)
    names = observable if isinstance(observable, list) else [observable]
    rows = _rows(table, next((o for o in names if (table["observable"] == o).any()), names[0]))
    if rows["t"].notna().any():
        ts = rows["t"].to_numpy(float)
        target = ts.max() if t is None else float(t)
        i = int(np.argmin(np.abs(ts - target)))
        if abs(ts[i] - target) > 1e-9 * max(1.0, abs(target)):
            raise NotMeasured(NOT_MEASURED, f"{run}/{point} has no {observable} at t = {target}")
        row = rows.iloc[i]
    else:
        row = rows.iloc[-1]
    return Measured(float(row["value"]), float(row["stderr"]))


def _problem(res: Results, run: str, point: str, ref: str, ref_point: str,
             other_size: bool = False, final_time: bool = False) -> tuple[str, str] | None:
    """Why a reference does not describe the run's system and task: (status, reason), or None. With
    other_size the lattices may differ in size (a paper comparing N = 40 with exact N = 10), not in kind."""
    from dataclasses import replace

    a, b = res.provenance(run, point)["spec"], res.provenance(ref, ref_point)["spec"]
    na, nb = _n_sites(a), _n_sites(b)
    if na != nb and not other_size:
        return NOT_AT_SIZE, f"{run} has N = {na}, its reference {ref} N = {nb}"
    sa, sb = res.system(run, point), res.system(ref, ref_point)
    if other_size:
        if (len(sa.lattice.shape), sa.lattice.periodic) != (len(sb.lattice.shape), sb.lattice.periodic):
            return NOT_MEASURED, f"{run} and {ref} are different kinds of lattice"
        sb = replace(sb, lattice=sa.lattice)
    if sa != sb:
        return NOT_MEASURED, f"{run} and {ref} are different systems"
    if final_time and b["task"]["kind"] == "steady":
        # the long-time state of a dynamics run (or a steady run) against the steady state
        return None
    if a["task"]["kind"] != b["task"]["kind"] or a["task"].get("initial") != b["task"].get("initial"):
        return NOT_MEASURED, f"{run} and {ref} are different tasks"
    return None


def _alternatives(names, point: str) -> list[tuple[str, str]]:
    """A run name or a list of them (the names the configs give the same measurement), each either
    RUN (at `point`) or RUN/POINT."""
    out = []
    for name in names if isinstance(names, list) else [names]:
        run, _, p = str(name).partition("/")
        out.append((run, p or point))
    return out


def _pick(res: Results, leaf: dict) -> tuple[str, str]:
    """The first of the leaf's runs this config has at the size and setup of `at`."""
    first = None
    for run, point in _alternatives(leaf["run"], str(leaf.get("point", "base"))):
        try:
            res._dir(run, point)
            _check_at(res, run, point, leaf.get("at"))
            return run, point
        except NotMeasured as e:
            # a run at another size says more than one this config lacks
            if first is None or (e.status == NOT_AT_SIZE and first.status != NOT_AT_SIZE):
                first = e
    raise first


def _reference(res: Results, leaf: dict, run: str, point: str) -> tuple[str, str]:
    """The first of the leaf's references (one name or a list) this config has for the run's system."""
    first = None
    for ref, ref_point in _alternatives(leaf["reference"], str(leaf.get("reference_point", point))):
        try:
            problem = _problem(res, run, point, ref, ref_point, bool(leaf.get("other_size")),
                               bool(leaf.get("final_time")))
        except NotMeasured as e:
            problem = (e.status, e.reason)
        if problem is None:
            return ref, ref_point
        # a reference at another size says more than one this config lacks
        if first is None or (problem[0] == NOT_AT_SIZE and first[0] != NOT_AT_SIZE):
            first = problem
    raise NotMeasured(*first)


def _deviation(res: Results, leaf: dict, run: str, point: str) -> Measured:
    """max |a - b| (or |a - b| / |b|) over the common times up to t_max and the listed observables."""
    ref, ref_point = _reference(res, leaf, run, point)
    _check_at(res, ref, ref_point, leaf.get("reference_at"))
    res.used.append((ref, ref_point))
    a_all, b_all = res.table(run, point), res.table(ref, ref_point)
    best = None
    for obs in leaf["observables"]:
        a, b = _rows(a_all, obs), _rows(b_all, obs)
        if b["t"].isna().all():
            # a steady reference: the run's steady state, or with final_time its last saved time
            if a["t"].notna().any() and not leaf.get("final_time"):
                raise NotMeasured(NOT_MEASURED, f"{run} is a dynamics run; its reference {ref} a steady state")
            pairs = [(a.loc[a["t"].fillna(-np.inf).idxmax()] if a["t"].notna().any() else a.iloc[-1], b.iloc[-1])]
        else:
            # the reference is saved at least as often: match each of the run's times to one of its own
            bt = b["t"].to_numpy(float)
            pairs = []
            for _, ra in a.iterrows():
                if leaf.get("t_max") is not None and ra["t"] > leaf["t_max"] + 1e-9:
                    continue
                j = int(np.argmin(np.abs(bt - ra["t"])))
                if abs(bt[j] - ra["t"]) <= 1e-6:
                    pairs.append((ra, b.iloc[j]))
            if not pairs:
                raise NotMeasured(NOT_MEASURED, f"{run} and {ref} share no time of {obs}")
        for ra, rb in pairs:
            d = abs(ra["value"] - rb["value"])
            err = math.hypot(ra["stderr"], rb["stderr"])
            if leaf.get("relative"):
                if rb["value"] == 0:
                    raise NotMeasured(NOT_MEASURED, f"reference {obs} is 0: no relative error")
                d, err = d / abs(rb["value"]), err / abs(rb["value"])
            if best is None or d > best.value:
                best = Measured(float(d), float(err))
    return best


def sum_rule_applies(spec: dict) -> bool:
    """Whether a run spec is a non-exact steady state of a model with the sz sum rule, reporting sy, sz."""
    from .spec import parse_system

    return (spec["method"]["name"] != "exact" and spec["task"]["kind"] == "steady"
            and {"sy", "sz"} <= set(spec["observables"]) and sz_sum_rule(parse_system(spec["system"])) is not None)


def _sum_rule_all(res: Results) -> Measured:
    worst, where = None, None
    for run, point in sorted(res.dirs):
        if not sum_rule_applies(res.provenance(run, point)["spec"]):
            continue
        m = _sum_rule(res, run, point)
        res.used.append((run, point))
        if worst is None or abs(m.value) > worst.value:
            worst, where = Measured(abs(m.value), m.stderr), (run, point)
    if worst is None:
        raise NotMeasured(NOT_MEASURED, "no neural steady state of a model with the sum rule in this config")
    res.used.remove(where)
    res.used.insert(0, where)  # the worst point first
    return worst


def _sum_rule(res: Results, run: str, point: str) -> Measured:
    rule = sz_sum_rule(res.system(run, point))
    if rule is None:
        raise ClaimsError(f"run {run}: its model has no closed sum rule for sz (needs Jx = Jy = 0 and sigma^- decay)")
    a, b, gamma = rule
    sz, sy = _observable(res, run, point, "sz"), _observable(res, run, point, "sy")
    sx = _observable(res, run, point, "sx") if b else Measured(0.0, 0.0)
    value = sz.value + 1 - (a * sy.value + b * sx.value) / gamma
    err = math.sqrt(sz.stderr ** 2 + (a * sy.stderr / gamma) ** 2 + (b * sx.stderr / gamma) ** 2)
    return Measured(value, err)


# --- expressions ---------------------------------------------------------------------------------

def _div(a: float, b: float) -> float:
    # a ratio to an exact zero (no negative eigenvalue at all) is infinite, not an error
    return a / b if b != 0 else math.copysign(math.inf, a) if a != 0 else math.nan


_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: _div,
           ast.Pow: operator.pow}
_FUNCS = {"abs": abs, "min": min, "max": max, "sqrt": math.sqrt, "log10": math.log10}


def _eval(node, names: dict[str, float]) -> float:
    if isinstance(node, ast.Expression):
        return _eval(node.body, names)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](_eval(node.left, names), _eval(node.right, names))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand, names)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS and not node.keywords:
        return _FUNCS[node.func.id](*[_eval(a, names) for a in node.args])
    raise ClaimsError(f"expression element not allowed: {ast.dump(node)[:60]}")


def _parse_expr(text: str, names, where: str):
    try:
        tree = ast.parse(str(text), mode="eval")
    except SyntaxError as e:
        raise ClaimsError(f"{where}: bad expression {text!r}: {e.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in names and node.id not in _FUNCS:
            raise ClaimsError(f"{where}: expression {text!r} names {node.id!r}, not one of {', '.join(sorted(names))}")
    return tree


def _expr(res: Results, leaf: dict, where: str) -> Measured:
    parts = {name: measure(res, sub, f"{where}.of.{name}") for name, sub in leaf["of"].items()}
    tree = _parse_expr(leaf["expr"], parts, where)
    values = {k: m.value for k, m in parts.items()}
    value = _eval(tree, values)
    var = 0.0
    for k, m in parts.items():
        if m.stderr > 0:
            h = m.stderr * 1e-3
            d = (_eval(tree, {**values, k: m.value + h}) - _eval(tree, {**values, k: m.value - h})) / (2 * h)
            var += (d * m.stderr) ** 2
    return Measured(value, math.sqrt(var))


# --- claims --------------------------------------------------------------------------------------

def measure(res: Results, leaf: dict, where: str = "quantity") -> Measured:
    kind = leaf["kind"]
    if kind == "expr":
        return _expr(res, leaf, where)
    if kind == "sum_rule_all":
        return _sum_rule_all(res)
    run, point = _pick(res, leaf)
    res.used.append((run, point))
    if kind == "observable":
        return _observable(res, run, point, leaf["observable"], leaf.get("t"))
    if kind == "deviation":
        return _deviation(res, leaf, run, point)
    if kind == "sum_rule":
        return _sum_rule(res, run, point)
    if kind == "n_sites":
        return Measured(float(_n_sites(res.provenance(run, point)["spec"])), 0.0)
    if kind == "provenance":
        prov = res.provenance(run, point)
        try:
            value = _dotted(prov, leaf["key"])
        except KeyError:
            raise NotMeasured(NOT_MEASURED, f"{run}/{point} reports no {leaf['key']}") from None
    else:  # spec
        try:
            value = _spec_value(res.provenance(run, point)["spec"], leaf["key"])
        except KeyError:
            raise NotMeasured(NOT_MEASURED, f"{run}/{point}: no spec key {leaf['key']}") from None
    if value is None:
        raise NotMeasured(NOT_MEASURED, f"{run}/{point}: {leaf['key']} is null")
    return Measured(float(value), 0.0)


def leaves(q: dict):
    """The leaves that name runs (sum_rule_all reads whichever runs qualify)."""
    if q["kind"] == "expr":
        for sub in q["of"].values():
            yield from leaves(sub)
    elif q["kind"] != "sum_rule_all":
        yield q


def referenced_points(q: dict) -> list[tuple[str, str]]:
    out = []
    for leaf in leaves(q):
        runs = _alternatives(leaf["run"], str(leaf.get("point", "base")))
        out += runs
        if leaf["kind"] == "deviation":
            for _, point in runs:
                out += _alternatives(leaf["reference"], str(leaf.get("reference_point", point)))
    return list(dict.fromkeys(out))


def _check_leaf(q, where: str) -> None:
    if not isinstance(q, dict) or q.get("kind") not in LEAF_KEYS:
        raise ClaimsError(f"{where}: needs kind, one of {', '.join(LEAF_KEYS)}")
    required, optional = LEAF_KEYS[q["kind"]]
    missing = sorted(required - set(q))
    if missing:
        raise ClaimsError(f"{where} ({q['kind']}): missing {', '.join(missing)}")
    unknown = sorted(set(q) - required - optional - {"kind"})
    if unknown:
        raise ClaimsError(f"{where} ({q['kind']}): unknown key {unknown[0]}; allowed: "
                          f"{', '.join(sorted(required | optional))}")
    if q["kind"] == "expr":
        if not isinstance(q["of"], dict) or not q["of"]:
            raise ClaimsError(f"{where}.of: needs {{name: quantity}}")
        _parse_expr(q["expr"], q["of"], where)
        for name, sub in q["of"].items():
            _check_leaf(sub, f"{where}.of.{name}")
    if q["kind"] == "deviation" and (not isinstance(q["observables"], list) or not q["observables"]):
        raise ClaimsError(f"{where}.observables: needs a non-empty list")


def load_claims(path: str | Path) -> list[dict]:
    """The claims of a claims file, every entry checked (a bad one is a one-line ClaimsError)."""
    from .spec import SpecError, load_yaml

    try:
        doc = load_yaml(path, "claims file")
    except SpecError as e:
        raise ClaimsError(str(e)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("claims"), list):
        raise ClaimsError(f"{path}: needs a list `claims:`")
    seen = set()
    for i, c in enumerate(doc["claims"]):
        where = f"claims[{i}]" + (f" ({c.get('id')})" if isinstance(c, dict) and c.get("id") else "")
        if not isinstance(c, dict):
            raise ClaimsError(f"{where}: needs a mapping")
        required, optional = CLAIM_KEYS
        missing = sorted(required - set(c))
        if missing:
            raise ClaimsError(f"{where}: missing {', '.join(missing)}")
        unknown = sorted(set(c) - required - optional)
        if unknown:
            raise ClaimsError(f"{where}: unknown key {unknown[0]}")
        if c["id"] in seen:
            raise ClaimsError(f"{where}: id {c['id']} given twice")
        seen.add(c["id"])
        if c["paper"] not in GROUPS:
            raise ClaimsError(f"{where}: paper must be one of {', '.join(GROUPS)}, got {c['paper']!r}")
        if c.get("compare", "approx") not in COMPARE:
            raise ClaimsError(f"{where}: compare must be one of {', '.join(COMPARE)}")
        for k in ("published", "tolerance"):
            if isinstance(c[k], bool) or not isinstance(c[k], (int, float)) or not math.isfinite(c[k]):
                raise ClaimsError(f"{where}: {k} must be a finite number, got {c[k]!r}")
        if c["tolerance"] < 0:
            raise ClaimsError(f"{where}: tolerance must be >= 0")
        _check_leaf(c["quantity"], f"{where}.quantity")
    return doc["claims"]


def _runs_column(res: Results, q: dict) -> str:
    """The run points that measured the claim; where it was not measured, those that would."""
    used = list(dict.fromkeys(res.used)) or referenced_points(q)
    return ", ".join(f"{r}/{p}" for r, p in used)


def evaluate(claims: list[dict], res: Results) -> pd.DataFrame:
    rows = []
    for c in claims:
        compare = c.get("compare", "approx")
        criterion, ok = COMPARE[compare]
        row = {"id": c["id"], "paper": c["paper"], "claim": c["claim"], "source": c["source"],
               "published": c["published"], "ours": None, "uncertainty": None, "tolerance": c["tolerance"],
               "criterion": criterion,
               "note": c.get("note", "")}
        res.used = []
        try:
            m = measure(res, c["quantity"], f"{c['id']}.quantity")
        except NotMeasured as e:
            res.used = []
            row.update(reproduced=e.status, runs=_runs_column(res, c["quantity"]),
                       note="; ".join(x for x in (e.reason, row["note"]) if x))
        else:
            row.update(ours=m.value, uncertainty=m.stderr,
                       runs=_runs_column(res, c["quantity"]),
                       reproduced=YES if ok(m.value, c["published"], c["tolerance"]) else NO)
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    x = float(x)
    if x == 0:
        return "0"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == int(x) and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.6g}"


def markdown(table: pd.DataFrame, title: str = "Claims of the four papers, re-measured") -> str:
    counts = table["reproduced"].value_counts()
    n_yes, n_no = int(counts.get(YES, 0)), int(counts.get(NO, 0))
    n_not = len(table) - n_yes - n_no
    lines = [f"# {title}", "",
             f"{len(table)} claims: {n_yes} reproduced, {n_no} not reproduced, {n_not} not measured by this "
             "config (a claim about another size, or a run this config lacks; not counted as passing). "
             "The criterion is applied to our central value; the uncertainty beside it is one standard error "
             "(Monte Carlo, propagated linearly through differences and ratios).", ""]
    for paper in GROUPS:
        part = table[table["paper"] == paper]
        if part.empty:
            continue
        heading = "exact identities (every run of the model)" if paper == "identities" else paper
        lines += [f"## {heading}", "", "| claim | paper | ours | tolerance | reproduced | run | note |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for _, r in part.iterrows():
            ours = "" if r["ours"] is None or pd.isna(r["ours"]) else (
                _fmt(r["ours"]) + (f" ± {_fmt(r['uncertainty'])}" if r["uncertainty"] else ""))
            cells = [f"{r['claim']} ({r['source']})", _fmt(r["published"]), ours,
                     f"{_fmt(r['tolerance'])} ({r['criterion']})", r["reproduced"], r["runs"], r["note"] or ""]
            lines.append("| " + " | ".join(str(x).replace("|", "\\|").replace("\n", " ") for x in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def write(claims_file: str | Path, result_files, out_csv: str | Path) -> pd.DataFrame:
    """claims.csv and claims.md (beside it), both written atomically."""
    from .results import atomic_path

    table = evaluate(load_claims(claims_file), Results(result_files))
    out_csv = Path(out_csv)
    with atomic_path(out_csv) as c, atomic_path(out_csv.with_suffix(".md")) as m:
        table.to_csv(c, index=False)
        Path(m).write_text(markdown(table) + "\n")
    return table


def required_results(claims_file: str | Path, runs: dict) -> list[str]:
    """The result.csv of every run point the claims read that the config defines (for the rule's input)."""
    out = []
    for c in load_claims(claims_file):
        for run, point in referenced_points(c["quantity"]):
            if run in runs and point in runs[run]:
                out.append(f"{runs[run][point].dir}/result.csv")
        if any(q["kind"] == "sum_rule_all" for q in _all_nodes(c["quantity"])):
            out += [f"{p.dir}/result.csv" for points in runs.values() for p in points.values()
                    if sum_rule_applies(p.spec)]
    return list(dict.fromkeys(out))


def _all_nodes(q: dict):
    yield q
    if q["kind"] == "expr":
        for sub in q["of"].values():
            yield from _all_nodes(sub)

