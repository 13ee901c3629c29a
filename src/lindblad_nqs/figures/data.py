"""Reading a run's result tables (all points of a sweep) for figures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from ..model import Lattice


class FigureError(ValueError):
    """A figure's runs or options do not fit together (the CLI prints it as one line, exit status 2)."""


@dataclass
class RunData:
    dir: Path

    @cached_property
    def points(self) -> dict[str, Path]:
        return {p.name: p for p in sorted(self.dir.iterdir()) if (p / "result.csv").exists()}

    def provenance(self, point: str) -> dict:
        return json.loads((self.points[point] / "result.json").read_text())

    @cached_property
    def table(self) -> pd.DataFrame:
        """Every point's rows, with columns point, sweep_key, sweep_value added."""
        frames = []
        for label, d in self.points.items():
            df = pd.read_csv(d / "result.csv")
            notes = self.provenance(label)["spec"].get("notes") or {}
            df.insert(0, "point", label)
            df["sweep_key"] = notes.get("sweep_key")
            value = notes.get("sweep_value")
            # a list value (a lattice shape) is a label, not a coordinate
            df["sweep_value"] = "x".join(map(str, value)) if isinstance(value, list) else value
            frames.append(df)
        if not frames:
            raise FileNotFoundError(f"no result.csv under {self.dir}")
        return pd.concat(frames, ignore_index=True)

    def history(self, point: str) -> pd.DataFrame | None:
        p = self.points[point] / "result.history.csv"
        return pd.read_csv(p) if p.exists() else None

    def state_file(self, point: str, name: str) -> Path:
        return self.points[point] / "state" / name

    def spec(self, point: str) -> dict:
        return self.provenance(point)["spec"]

    def n_sites(self, point: str) -> int:
        return lattice_of(self.spec(point)).n_sites

    def shape_label(self, point: str) -> str:
        """The lattice shape as figures print it: '10' for a chain, '3x3' for a square lattice."""
        return "x".join(str(n) for n in lattice_of(self.spec(point)).shape)


def option_point(run: RunData, figure: str, option: str, value, default: str | None = None) -> str:
    """The point of `run` that a figure option names. A value that names no point is an error naming the
    figure, the option and the points that exist, never a silent fallback to another point; without a value
    `default` is taken (None: the run must have exactly one point)."""
    points = list(run.points)
    if value is None:
        if default is not None:
            value = default
        elif len(points) == 1:
            return points[0]
        else:
            raise FigureError(f"{figure}: run {run.dir.name} has points {', '.join(points)}; "
                              f"option {option} must name one")
    if value not in run.points:
        raise FigureError(f"{figure}: option {option} = {value!r} names no point of run {run.dir.name} "
                          f"(its points: {', '.join(points)})")
    return value


def lattice_of(spec: dict) -> Lattice:
    lat = spec["system"]["lattice"]
    return Lattice(tuple(lat["shape"]), lat.get("boundary", "periodic") == "periodic")


def load_runs(roles: dict[str, str]) -> dict[str, RunData]:
    return {role: RunData(Path(d)) for role, d in roles.items()}
