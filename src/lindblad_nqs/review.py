"""One table of every run point's provenance, for reviewing a pipeline run at a glance."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from .run_health import warning_text


# neural runs add their final cost, its L^dag L cross-check, chain R-hat and any warning (run_health: a collapsed
# rho, the two cost estimates disagreeing, a cost still falling at the end)
SCALARS = ("method", "wall_time_s", "device", "spec_hash", "relative_residual", "sector_dim", "ntraj", "n_params",
           "final_cost", "final_cost_subset_l2", "final_cost_subset_ldagl", "final_rhat", "warning")


def collect(results: list[Path]) -> pd.DataFrame:
    rows = []
    for csv in results:
        prov = json.loads(Path(csv).with_suffix(".json").read_text())
        notes = prov["spec"].get("notes") or {}
        rows.append({"run": notes.get("run"), "point": notes.get("point"), "n_sites": math.prod(prov["spec"]["system"]["lattice"]["shape"]),
                     **{k: prov.get(k) for k in SCALARS}, "warning": warning_text(prov, csv)})
    return pd.DataFrame(rows)


# --- the cross-method figure ---------------------------------------------------------------------

# methods whose answer is the reference itself, or numerically exact: drawn as the reference's cost, not as a point
EXACT_METHODS = ("exact",)


def load_panels(path) -> list[dict]:
    """The reference points of the cross-method figure (config/cross_method.yaml), each checked."""
    from .claims import ClaimsError
    from .spec import SpecError, load_yaml

    try:
        doc = load_yaml(path, "cross-method file")
    except SpecError as e:
        raise ClaimsError(str(e)) from None
    refs = doc.get("references") if isinstance(doc, dict) else None
    if not isinstance(refs, list) or not refs:
        raise ClaimsError(f"{path}: needs a list `references:`")
    for i, r in enumerate(refs):
        where = f"references[{i}]"
        if not isinstance(r, dict) or not {"label", "run", "observables"} <= set(r):
            raise ClaimsError(f"{where}: needs label, run, observables (and point, default base)")
        unknown = sorted(set(r) - {"label", "run", "point", "observables"})
        if unknown:
            raise ClaimsError(f"{where}: unknown key {unknown[0]}")
        if not isinstance(r["observables"], list) or not r["observables"]:
            raise ClaimsError(f"{where}.observables: needs a non-empty list")
    return refs


def cross_method_table(result_files, references: list[dict], res=None) -> pd.DataFrame:
    """One row per (reference, run point of the same system and task): the largest deviation from the
    reference over the common times and the observables both have, with the run's wall time and size.
    res: the claims.Results of result_files, where the caller has read them already."""
    from .claims import NotMeasured, Results, measure

    res = Results(result_files) if res is None else res
    rows = []
    for ref in references:
        rrun, rpoint = ref["run"], str(ref.get("point", "base"))
        if (rrun, rpoint) not in res.dirs:
            continue
        rprov = res.provenance(rrun, rpoint)
        rtab = res.table(rrun, rpoint)
        label = f"{ref['label']} ({'x'.join(map(str, rprov['spec']['system']['lattice']['shape']))})"
        for (run, point) in sorted(res.dirs):
            prov = res.provenance(run, point)
            if (run, point) == (rrun, rpoint) or prov.get("method") in EXACT_METHODS:
                continue
            obs = [o for o in ref["observables"] if o in set(res.table(run, point)["observable"]) and o in set(rtab["observable"])]
            if not obs:
                continue
            leaf = {"kind": "deviation", "run": run, "point": point, "reference": rrun, "reference_point": rpoint,
                    "observables": obs}
            try:
                m = measure(res, leaf)
            except NotMeasured:
                continue  # another system, size or task
            rows.append({"reference": label, "reference_run": f"{rrun}/{rpoint}",
                         "reference_wall_time_s": rprov.get("wall_time_s"), "run": run, "point": point,
                         "method": prov.get("method"), "observables": " ".join(obs), "max_abs_error": m.value,
                         "error_stderr": m.stderr, "wall_time_s": prov.get("wall_time_s"),
                         "n_params": prov.get("n_params"), "device": prov.get("device"),
                         "init_from": prov.get("init_state")})
    return pd.DataFrame(rows, columns=["reference", "reference_run", "reference_wall_time_s", "run", "point", "method",
                                       "observables", "max_abs_error", "error_stderr", "wall_time_s", "n_params",
                                       "device", "init_from"])
