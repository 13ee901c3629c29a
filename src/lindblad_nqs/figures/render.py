"""Saving a figure as PDF and PNG with its plotted data as CSV, atomically."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..results import atomic_path  # noqa: E402


def save(fig, table, pdf: Path) -> None:
    pdf = Path(pdf)
    with atomic_path(pdf) as p, atomic_path(pdf.with_suffix(".png")) as q, atomic_path(pdf.with_suffix(".csv")) as c:
        fig.savefig(p, format="pdf", bbox_inches="tight")
        fig.savefig(q, format="png", dpi=150, bbox_inches="tight")
        table.to_csv(c, index=False)
    plt.close(fig)


def sweep_axis_label(key: str | None) -> str:
    return key.split(".")[-1] if key else ""
