"""Saving a figure as PDF and PNG with its plotted data as CSV and its lineage as JSON, atomically."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..results import _json_safe, atomic_path, device_description, package_versions  # noqa: E402

# what a figure's lineage repeats from each run point's provenance
POINT_KEYS = ("spec_hash", "method", "device", "wall_time_s", "n_params", "host")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def lineage(roles: dict[str, str], started: float | None = None) -> dict:
    """Where a figure's data came from: every run point it read (spec hash, method, device, wall time,
    the package versions of the solve), the git commit of the working tree, and this process's versions."""
    runs = {}
    for role, d in roles.items():
        points = {}
        for res in sorted(Path(d).glob("*/result.json")):
            prov = json.loads(res.read_text())
            points[res.parent.name] = {**{k: prov.get(k) for k in POINT_KEYS}, "versions": prov.get("versions")}
        runs[role] = {"run": Path(d).name, "dir": str(d), "points": points}
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    walls = [p["wall_time_s"] for r in runs.values() for p in r["points"].values() if p["wall_time_s"] is not None]
    return {
        "runs": runs,
        "git_commit": commit,
        "git_dirty": None if status is None else bool(status),
        "versions": package_versions(),
        "device": device_description(),
        "runs_wall_time_s": sum(walls),
        "figure_wall_time_s": None if started is None else time.time() - started,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def save(fig, table, pdf: Path, lineage: dict | None = None) -> None:
    """FIGURE.pdf, .png and .csv (the plotted data), and with a lineage FIGURE.json beside them."""
    pdf = Path(pdf)
    with atomic_path(pdf) as p, atomic_path(pdf.with_suffix(".png")) as q, atomic_path(pdf.with_suffix(".csv")) as c:
        fig.savefig(p, format="pdf", bbox_inches="tight")
        fig.savefig(q, format="png", dpi=150, bbox_inches="tight")
        table.to_csv(c, index=False)
        if lineage is not None:
            with atomic_path(pdf.with_suffix(".json")) as j:
                Path(j).write_text(json.dumps(_json_safe(lineage), indent=2, default=str, allow_nan=False))
    plt.close(fig)


def sweep_axis_label(key: str | None) -> str:
    return key.split(".")[-1] if key else ""
