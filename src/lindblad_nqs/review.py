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
