"""The pipeline configuration (config/*.yaml) expanded into run specs, for the Snakemake rules.

A config names systems, runs and figures. A run is a system, a task, a method and observables, and
optionally a sweep over one key of the spec (one point per value), an `init` edge to another run's
point (transfer learning, var+dyn), `threads`, `resources` (a job's runtime and memory), `segments` and
`priority` (an integer, default 0: among the jobs that are ready, Snakemake starts the higher ones first;
the configs give their longest solves one, so that no long job starts last and leaves a core idle).
Each point becomes one run spec. A dynamics point with `segments: K` becomes K jobs: K - 1 segment specs
with a shorter t_final, then the point's own spec, sharing one state directory, so that each job resumes
from the previous one's checkpoint and the last one's result table is the whole run's.
"""

from __future__ import annotations

import copy
import json
import os
import shlex
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

@dataclass(frozen=True)
class Point:
    run: str
    label: str
    spec: dict[str, Any]
    threads: int
    init: tuple[str, str] | None  # (run, point) this point starts from
    segments: tuple[float, ...] = ()  # t_final of each job before the last (the last runs spec's own t_final)
    resources: dict[str, Any] = field(default_factory=dict)  # per job (per segment): runtime (min), mem_mb
    priority: int = 0

    @property
    def dir(self) -> str:
        return f"results/runs/{self.run}/{self.label}"

    @property
    def state_dir(self) -> str:
        return f"{self.dir}/state"

    def segment_dir(self, k: int) -> str:
        return f"{self.dir}/segments/{k}"

    def segment_spec(self, k: int) -> dict[str, Any]:
        """The spec of segment k (1 .. len(segments)): the point's spec ending at segments[k - 1]."""
        spec = copy.deepcopy(self.spec)
        spec["task"]["t_final"] = self.segments[k - 1]
        spec["notes"]["segment"] = k
        return spec

    def previous_result(self, k: int | None = None) -> list[str]:
        """The result of the job before segment k (None: before the point's own, last job)."""
        k = len(self.segments) + 1 if k is None else k
        return [f"{self.segment_dir(k - 1)}/result.csv"] if k > 1 else []


# Methods whose checkpoint resumes a run whose only change is a longer task.t_final (their checkpoint
# fingerprint leaves t_final out, and the result table carries the rows computed before): only these
# can be split into segments. The transformer's dynamics checkpoint keys on t_final, so each of its
# segments would start afresh (tests/pipeline/test_segments.py checks both sides of this list).
SEGMENTABLE = ("rbm_tdvp", "rnn_tdvp", "transformer")
# a job's resources where neither the run nor the config's `resources` names them (minutes, MB)
DEFAULT_RESOURCES = {"runtime": 60, "mem_mb": 4000}


def segment_times(name: str, task: dict, k: int) -> tuple[float, ...]:
    """t_final of segments 1 .. k - 1: the save times nearest to equal shares of the run."""
    if task.get("kind") != "dynamics":
        raise ValueError(f"run {name}: segments need a dynamics task (task.kind: dynamics)")
    t_final = float(task["t_final"])
    save = float(task.get("save_every", task["dt"]))
    n = int(round(t_final / save))
    if k > n:
        raise ValueError(f"run {name}: segments ({k}) must not exceed the number of save times ({n}); each "
                         "segment ends at a save time, where the solvers checkpoint")
    return tuple(round(round(j * n / k) * save, 12) for j in range(1, k))


def _label(key: str | None, value) -> str:
    if key is None:
        return "base"
    leaf = key.split(".")[-1]
    if isinstance(value, list):
        value = "x".join(str(v) for v in value)
    return f"{leaf}={value}".replace("/", "_").replace(" ", "")


def _set(d: dict, dotted: str, value) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    d[keys[-1]] = value


def expand_runs(config: dict) -> dict[str, dict[str, Point]]:
    systems = config.get("systems", {})
    out: dict[str, dict[str, Point]] = {}
    for name, run in config.get("runs", {}).items():
        system = run["system"]
        if isinstance(system, str):
            if system not in systems:
                raise ValueError(f"run {name}: unknown system {system!r}; defined: {', '.join(systems)}")
            system = systems[system]
        base = {
            "system": copy.deepcopy(system),
            "task": copy.deepcopy(run["task"]),
            "method": copy.deepcopy(run["method"]),
            "observables": list(run["observables"]),
            "seed": run.get("seed", 0),
        }
        sweep = run.get("sweep")
        values = sweep["values"] if sweep else [None]
        # sweep.with: other keys that change with the swept one, one value per point (a method setting
        # that suits one regime of the sweep and not another)
        along = (sweep or {}).get("with", {})
        for k, vs in along.items():
            if not isinstance(vs, list) or len(vs) != len(values):
                raise ValueError(f"run {name}: sweep.with.{k} needs one value per sweep value "
                                 f"({len(values)}), got {vs!r}")
        points = {}
        for i, v in enumerate(values):
            spec = copy.deepcopy(base)
            if sweep:
                _set(spec, sweep["key"], copy.deepcopy(v))
                for k, vs in along.items():
                    _set(spec, k, copy.deepcopy(vs[i]))
            label = _label(sweep["key"] if sweep else None, v)
            spec["notes"] = {"run": name, "point": label, "sweep_key": sweep["key"] if sweep else None,
                             "sweep_value": v}
            init = run.get("init")
            init_ref = None
            if init:
                init_ref = (init["run"], init.get("point", label if init.get("same_point") else "base"))
            k = int(run.get("segments", 1))
            segs = ()
            if k > 1:
                segs = segment_times(name, spec["task"], k)
                if spec["method"]["name"] not in SEGMENTABLE:
                    raise ValueError(f"run {name}: segments need a method whose checkpoint continues a longer "
                                     f"t_final ({', '.join(SEGMENTABLE)}), not {spec['method']['name']!r}")
            res = {**DEFAULT_RESOURCES, **config.get("resources", {}), **run.get("resources", {})}
            points[label] = Point(name, label, spec, int(run.get("threads", 1)), init_ref, segs, res,
                                  int(run.get("priority", 0)))
        out[name] = points
    for name, points in out.items():
        for p in points.values():
            if p.init and (p.init[0] not in out or p.init[1] not in out[p.init[0]]):
                raise ValueError(f"run {name}: init refers to unknown run/point {p.init[0]}/{p.init[1]}")
    return out


class ConfigError(ValueError):
    """A pipeline config that cannot build its DAG, with a one-line reason naming the config entry."""


def _near(name: str, names) -> str:
    import difflib

    close = difflib.get_close_matches(str(name), list(names), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def checked_runs(config: dict) -> dict[str, dict[str, Point]]:
    """expand_runs, then every point's spec through the same checks as `lindblad-nqs validate` (method
    keys included, not the machine's memory: the DAG may be built on another machine than the jobs), and
    every figure's runs resolved: a bad entry fails here, naming it, not in an input function or a job."""
    from .spec import SpecError, parse_spec

    try:
        runs = expand_runs(config)
    except KeyError as e:
        raise ConfigError(f"a run of the config lacks the key {e}") from None
    except (ValueError, TypeError) as e:
        raise ConfigError(str(e)) from None
    for name, points in runs.items():
        for label, point in points.items():
            try:
                parse_spec(point.spec)
                for k in range(1, len(point.segments) + 1):
                    parse_spec(point.segment_spec(k))
            except SpecError as e:
                where = f"runs.{name}" + (f" (point {label})" if label != "base" else "")
                raise ConfigError(f"{where}: {e}") from None
    for paper, figs in config.get("figures", {}).items():
        for fig, entry in (figs or {}).items():
            if not isinstance(entry, dict) or not isinstance(entry.get("runs"), dict):
                raise ConfigError(f"figures.{paper}.{fig}: needs runs: {{role: run name}}")
            for role, run in entry["runs"].items():
                if run not in runs:
                    raise ConfigError(f"figures.{paper}.{fig}.runs.{role}: unknown run {run!r}{_near(run, runs)}")
    return runs


def uses_gpu(point: Point, config: dict) -> int:
    from .methods import get_method

    return int(config.get("device", "cpu") == "gpu" and get_method(point.spec["method"]["name"]).uses_gpu)


def gpu_model(point: Point, config: dict) -> str:
    """The GPU type a GPU job asks for (config `gpu_model`; SLURM --gpus=MODEL:N), empty otherwise."""
    return str(config.get("gpu_model", "")) if uses_gpu(point, config) else ""


def figure_targets(config: dict) -> list[tuple[str, str]]:
    return [(paper, fig) for paper, figs in config.get("figures", {}).items() for fig in figs]


def figure_entry(config: dict, paper: str, fig: str) -> dict:
    return config["figures"][paper][fig]


def figure_runs_arg(config: dict, runs: dict[str, dict[str, Point]], paper: str, fig: str) -> str:
    entry = figure_entry(config, paper, fig)
    roles = {role: f"results/runs/{run}" for role, run in entry["runs"].items()}
    missing = [r for r in entry["runs"].values() if r not in runs]
    if missing:
        raise ValueError(f"figure {paper}/{fig}: unknown run {missing[0]!r}")
    return shlex.quote(json.dumps(roles, sort_keys=True))


def figure_options_arg(config: dict, paper: str, fig: str) -> str:
    return shlex.quote(json.dumps(figure_entry(config, paper, fig).get("options", {}), sort_keys=True))


def spec_text(point: Point | dict) -> str:
    import yaml

    # libyaml's dumper writes the same text as yaml.safe_dump (checked on every point of both configs),
    # 3-8x faster; the text must not change, or every spec would look changed and every point rerun
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(point.spec if isinstance(point, Point) else point, Dumper=dumper, sort_keys=False)


def job_specs(point: Point) -> list[tuple[str, dict]]:
    """(directory, spec) of every job of a point: its segments, then the point itself."""
    return [(point.segment_dir(k), point.segment_spec(k)) for k in range(1, len(point.segments) + 1)] + \
        [(point.dir, point.spec)]


def write_specs(runs: dict[str, dict[str, Point]], root: str | Path = ".") -> list[str]:
    """Write every point's spec.yaml whose content differs from the file on disk; return those written.

    Called at DAG construction instead of a rule per spec (a `run:` job costs a whole Snakemake
    subprocess, about 10 s, for a few hundred bytes of YAML). The spec is then a source file of the
    solve job: an unchanged spec keeps its timestamp, so nothing reruns, and a changed one is newer
    than its result, so exactly the points whose spec changed rerun (with what depends on them).
    """
    written = []
    for points in runs.values():
        for where, spec in (js for point in points.values() for js in job_specs(point)):
            path = Path(root) / where / "spec.yaml"
            text = spec_text(spec)
            try:
                if path.read_text() == text:
                    continue
            except (FileNotFoundError, UnicodeDecodeError, IsADirectoryError):
                pass
            path.parent.mkdir(parents=True, exist_ok=True)
            # a temporary name and a rename: a reader (a job of a second Snakemake, an interrupted
            # write) never sees half a spec
            fd, tmp = tempfile.mkstemp(prefix=".spec.", suffix=".yaml", dir=path.parent)
            try:
                with os.fdopen(fd, "w") as f:
                    f.write(text)
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            written.append(str(path))
    return written
