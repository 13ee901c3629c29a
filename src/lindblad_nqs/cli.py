"""Command line: lindblad-nqs solve SPEC.yaml --out RESULT.csv [--state-dir DIR] [--threads N]."""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from pathlib import Path

from . import __version__


class CliError(ValueError):
    """A bad command-line argument (reported like a bad spec)."""


def _check_threads(args) -> None:
    if args.threads < 1:
        raise CliError(f"--threads must be at least 1, got {args.threads}")


def _solve(args) -> int:
    _check_threads(args)
    from .threads import limit_threads, set_thread_env, start_jax, thread_report

    # before numpy, jax or torch are imported: they size their thread pools when they load
    set_thread_env(args.threads)
    from .checks import check_rows
    from .methods import RunContext, get_method
    from .results import device_description, output_problem, package_versions, write_result
    from .spec import check_resources, load_spec

    out = Path(args.out)
    if out.suffix != ".csv":
        raise CliError(f"--out must name a .csv file, got {out}")
    spec = load_spec(args.spec)
    problem = output_problem(out)
    if problem:
        raise CliError(f"--out {out}: {problem}")
    state_dir = Path(args.state_dir) if args.state_dir else out.with_suffix("").parent / (out.stem + ".state")
    init_state = Path(args.init_state) if args.init_state else None
    if init_state is not None and not init_state.is_dir():
        raise CliError(f"--init-state {init_state} is not a directory")
    check_resources(spec, args.threads)
    ctx = RunContext(state_dir=state_dir, threads=args.threads, progress=args.progress, init_state=init_state)
    method = get_method(spec.method)
    if method.framework == "jax":
        start_jax(args.threads)
    start = time.time()
    with limit_threads(args.threads):
        result = method.solve(spec, ctx)
        threads = thread_report(args.threads)
    wall = time.time() - start
    for warning in check_rows(result.rows, spec.observables, result.info, result.history):
        print(f"lindblad-nqs: warning: {warning}", file=sys.stderr)
    provenance = {
        "spec": spec.raw,
        "spec_hash": spec.hash,
        "method": spec.method,
        "versions": package_versions(),
        "device": device_description(),
        "host": socket.gethostname(),
        **threads,
        "init_state": args.init_state,
        "wall_time_s": wall,
        **result.info,
    }
    write_result(out, result.rows, provenance, result.history)
    print(f"{spec.method}: {len(result.rows)} rows in {wall:.1f} s -> {out}")
    return 0


def _validate(args) -> int:
    """The checks of `solve` that come before any computation, the machine's memory included."""
    from .spec import check_resources, load_spec

    _check_threads(args)
    spec = load_spec(args.spec)
    check_resources(spec, args.threads)
    print(f"ok: method {spec.method}, {spec.system.n_sites} sites, task {spec.task.kind}, hash {spec.hash}")
    return 0


def _figure(args) -> int:
    import json

    from .figures import get_figure
    from .figures.data import FigureError, load_runs
    from .figures.render import lineage, save

    started = time.time()
    try:
        fn = get_figure(args.paper, args.name)
        roles, options = json.loads(args.runs), json.loads(args.options)
    except (KeyError, json.JSONDecodeError) as e:
        raise CliError(str(e).strip("'\"")) from None
    try:
        fig, table = fn(load_runs(roles), options)
    except FigureError as e:
        raise CliError(str(e)) from None
    save(fig, table, Path(args.out), lineage=lineage(roles, started))
    print(f"figure {args.paper}/{args.name} -> {args.out}")
    return 0


def _review(args) -> int:
    from .results import atomic_path
    from .review import collect

    table = collect([Path(p) for p in args.results])
    with atomic_path(Path(args.out)) as tmp:
        table.to_csv(tmp, index=False)
    print(f"review of {len(table)} run points -> {args.out}")
    return 0


def _claims(args) -> int:
    from .claims import ClaimsError, write

    out = Path(args.out)
    if out.suffix != ".csv":
        raise CliError(f"--out must name a .csv file (the .md is written beside it), got {out}")
    try:
        table = write(args.claims, [Path(p) for p in args.results], out)
    except ClaimsError as e:
        raise CliError(str(e)) from None
    counts = table["reproduced"].value_counts()
    print(f"{len(table)} claims: {counts.get('yes', 0)} reproduced, {counts.get('no', 0)} not -> {out}")
    return 0


def _cross_method(args) -> int:
    from .claims import ClaimsError
    from .figures.cross_method import write_cross_method

    out = Path(args.out)
    if out.suffix != ".pdf":
        raise CliError(f"--out must name a .pdf file (.png, .csv and .json are written beside it), got {out}")
    try:
        table = write_cross_method(args.references, [Path(p) for p in args.results], out)
    except ClaimsError as e:
        raise CliError(str(e)) from None
    print(f"cross-method figure: {len(table)} run points -> {out}")
    return 0


def _floor(args) -> int:
    from .threads import set_thread_env

    set_thread_env(1)  # a one-thread job in the DAG (rules/review.smk); XLA's pool: floor.fit_floor
    from .budget import FloorError
    from .floor import write_floor

    try:
        given = {k: getattr(args, k) for k in ("steps", "lr", "max_configs", "optimizer", "tol", "window", "warmup")}
        info = write_floor(args.spec, Path(args.out), **{k: v for k, v in given.items() if v is not None})
    except FloorError as e:
        raise CliError(str(e)) from None
    print(f"floor of {info['method']} ({info['n_params']} parameters): {info['loss_name']} {info['loss']:.3g}, "
          f"max |fit - exact| {info['max_abs_error']:.4g}, {info['optimizer']} {info['iterations']} iterations "
          f"({info['stop_reason']}) in {info['wall_time_s']:.1f} s -> {args.out}")
    return 0


def _budget(args) -> int:
    from .claims import ClaimsError
    from .figures.cross_method import write_budget

    out = Path(args.out)
    if out.suffix != ".pdf":
        raise CliError(f"--out must name a .pdf file (.png, .csv and .json are written beside it), got {out}")
    try:
        table = write_budget(args.references, [Path(p) for p in args.results], [Path(p) for p in args.floors], out)
    except ClaimsError as e:
        raise CliError(str(e)) from None
    print(f"budget figure: {table[['run', 'point']].drop_duplicates().shape[0]} run points, "
          f"{int((table['kind'] == 'floor').sum())} floors -> {out}")
    return 0


def _methods(args) -> int:
    from .methods import discover, get_method

    if args.name:
        info = get_method(args.name)
        print(f"{info.name}: tasks {', '.join(sorted(info.tasks))}" + ("; placed on a GPU when the config has one" if info.uses_gpu else ""))
        for name, key in info.keys.items():
            print(f"  {name} = {key.default!r}  ({key.allowed()}){'  ' + key.doc if key.doc else ''}")
        return 0
    for name, info in sorted(discover().items()):
        print(f"{name:12s} tasks: {','.join(sorted(info.tasks)):17s} keys: {', '.join(info.keys)}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="lindblad-nqs", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("solve", help="run a spec and write the result table")
    p.add_argument("spec")
    p.add_argument("--out", required=True, help="RESULT.csv (RESULT.json is written beside it)")
    p.add_argument("--state-dir", help="checkpoints and large artifacts (default: RESULT.state/)")
    p.add_argument("--init-state", help="state dir of a finished run to initialise from")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--progress", action="store_true", help="show a progress bar where the method has one")
    p.set_defaults(func=_solve)
    p = sub.add_parser("validate", help="check a spec without running it")
    p.add_argument("spec")
    p.add_argument("--threads", type=int, default=1, help="as for solve (the memory check counts processes)")
    p.set_defaults(func=_validate)
    p = sub.add_parser("figure", help="draw a figure from result tables")
    p.add_argument("paper")
    p.add_argument("name")
    p.add_argument("--runs", required=True, help='JSON {role: results/runs/RUN}')
    p.add_argument("--options", default="{}", help="JSON options of the figure")
    p.add_argument("--out", required=True, help="FIGURE.pdf (.png and .csv are written beside it)")
    p.set_defaults(func=_figure)
    p = sub.add_parser("review", help="one table of the provenance of many results")
    p.add_argument("results", nargs="+", help="result.csv files (their .json is read)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_review)
    p = sub.add_parser("claims", help="the papers' claims re-measured from result files (CSV and Markdown)")
    p.add_argument("claims", help="the claims file (config/claims.yaml)")
    p.add_argument("results", nargs="*", help="result.csv files of the config's runs (their .json is read)")
    p.add_argument("--out", required=True, help="CLAIMS.csv (CLAIMS.md is written beside it)")
    p.set_defaults(func=_claims)
    p = sub.add_parser("cross-method", help="every method's error against exact vs its cost, one point per run")
    p.add_argument("references", help="the reference points (config/cross_method.yaml)")
    p.add_argument("results", nargs="*", help="result.csv files of the config's runs")
    p.add_argument("--out", required=True, help="FIGURE.pdf (.png, .csv and the lineage .json beside it)")
    p.set_defaults(func=_cross_method)
    p = sub.add_parser("floor", help="fit a run spec's network to the exact steady state: its best observable error")
    p.add_argument("spec", help="a cnn, rbm_ndo or transformer steady-state spec")
    p.add_argument("--out", required=True, help="FLOOR.csv (FLOOR.json beside it)")
    # defaults: lindblad_nqs.budget.FLOOR_DEFAULTS (a bad value: one line from the fit, exit 2)
    p.add_argument("--optimizer", help="lbfgs (after --warmup Adam steps) or adam (--steps Adam steps)")
    p.add_argument("--steps", type=int, help="L-BFGS iterations at most, or Adam steps")
    p.add_argument("--lr", type=float, help="Adam's rate")
    p.add_argument("--tol", type=float, help="L-BFGS stops when --window iterations lower the loss by less than "
                   "this fraction of it")
    p.add_argument("--window", type=int)
    p.add_argument("--warmup", type=int, help="Adam steps before L-BFGS")
    p.add_argument("--max-configs", type=int, help="refuse a fit over more configurations")
    p.set_defaults(func=_floor)
    p = sub.add_parser("budget", help="each steady network's error against exact vs its budget, with its floor")
    p.add_argument("references", help="the cross-method file with its budget section (config/cross_method.yaml)")
    p.add_argument("results", nargs="*", help="result.csv files of the config's runs")
    p.add_argument("--floors", nargs="*", default=[], help="FLOOR.csv files (lindblad-nqs floor)")
    p.add_argument("--out", required=True, help="FIGURE.pdf (.png, .csv and the lineage .json beside it)")
    p.set_defaults(func=_budget)
    p = sub.add_parser("methods", help="list the available methods, or one method's keys")
    p.add_argument("name", nargs="?", help="a method: list its keys, defaults, allowed values and meaning")
    p.set_defaults(func=_methods)
    args = parser.parse_args(argv)

    from .checks import RunError
    from .spec import SpecError

    try:
        return args.func(args)
    except (SpecError, CliError, RunError) as e:
        print(f"lindblad-nqs: error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:  # a solver's NaN/inf update or cost: the run diverged, nothing is written
        print(f"lindblad-nqs: error: the run diverged: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lindblad-nqs: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `lindblad-nqs methods cnn | head`: the reader left; stop quietly, as cat does
        try:  # Python's own flush of stdout at exit would raise again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (AttributeError, OSError, ValueError):
            pass
        return 141


if __name__ == "__main__":
    sys.exit(main())
