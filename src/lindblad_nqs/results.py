"""Result tables and their provenance, written atomically: a failed run leaves no output file."""

from __future__ import annotations

import json
import math
import os
import platform
import tempfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import pandas as pd

COLUMNS = ["t", "observable", "value", "stderr"]

# The one vocabulary of provenance keys and history columns that figures, the review table and the
# benchmarks read. Provenance (RESULT.json): n_params (real parameters of the network), wall_time_s
# (the solve), time_per_iteration_s, final_cost, accepted_steps, resumed_from, warning, collapsed (steady
# VMC: the final samples see one element of rho, vmc.driver.chain_collapse; its statistic
# final_l2_flip_acceptance). History (RESULT.history.csv), one row per iteration or time step: iteration
# or step (counted from 1: the number completed), t, dt, cost, cost_stderr, time_s (the row's wall time),
# accepted, acceptance (of the Metropolis chains' moves), flip_acceptance (of their moves other than the
# ket-bra swap, which a Hermitian |rho| always accepts). A solver that
# writes another name for one of these is stopped here, so the vocabulary cannot drift apart again.
RETIRED_NAMES = {"n_parameters": "n_params", "cost_err": "cost_stderr", "seconds": "time_s"}
_PACKAGES = ("lindblad-nqs", "numpy", "scipy", "qutip", "jax", "jaxlib", "flax", "optax", "torch", "pandas")


def _file_mode() -> int:
    """The mode a plain open() would give a new file (mkstemp's is 0600)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _stage(path: Path) -> Path:
    """An empty temporary file beside `path`, with the mode a new `path` would get."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, _file_mode())
    return Path(tmp)


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _stage(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def output_problem(out: Path) -> str | None:
    """Why the result files of `out` could not be written, checked before any computation (None: fine)."""
    out = Path(out)
    for p in (out, out.with_suffix(".json"), history_path(out)):
        if p.is_dir():
            return f"{p} is a directory"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _stage(out).unlink()
    except OSError as e:
        return f"cannot write in {out.parent}: {e.strerror or e}"
    return None


def _json_safe(x):
    """Provenance as strict JSON: NaN and infinities (not JSON) become null."""
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):  # numpy scalars and arrays
        return _json_safe(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def package_versions() -> dict[str, str]:
    out = {}
    for p in _PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    return out


def device_description() -> str:
    """The accelerator the frameworks would use, without importing them when they are absent."""
    import sys

    if "jax" in sys.modules:
        import jax

        return f"jax:{jax.default_backend()}"
    if "torch" in sys.modules:
        import torch

        return "torch:cuda" if torch.cuda.is_available() else "torch:cpu"
    return f"cpu ({platform.processor() or platform.machine()})"


def history_path(out: Path) -> Path:
    return out.with_suffix(".history.csv")


def _check_vocabulary(provenance: dict, history) -> None:
    names = set(provenance) | set(getattr(history, "columns", ()))
    bad = sorted(names & set(RETIRED_NAMES))
    if bad:
        raise ValueError("result uses retired names: " + ", ".join(f"{b} (write {RETIRED_NAMES[b]})" for b in bad))


def write_result(out: Path, rows, provenance: dict, history: pd.DataFrame | None = None) -> None:
    """RESULT.csv, RESULT.json and (with a history) RESULT.history.csv: all written to temporary files
    first, then renamed, the table last; a failure on the way removes what was already renamed, and a
    stale history of an earlier run goes, so the files on disk always belong together."""
    out = Path(out)
    _check_vocabulary(provenance, history)
    out.parent.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows, columns=COLUMNS)
    staged: list[tuple[Path, Path]] = []
    published: list[Path] = []
    try:
        if history is not None:
            staged.append((_stage(history_path(out)), history_path(out)))
            history.to_csv(staged[-1][0], index=False)
            provenance = dict(provenance, history_file=history_path(out).name)
        staged.append((_stage(out.with_suffix(".json")), out.with_suffix(".json")))
        staged[-1][0].write_text(json.dumps(_json_safe(provenance), indent=2, default=str, allow_nan=False))
        staged.append((_stage(out), out))
        df.to_csv(staged[-1][0], index=False)
        if history is None and history_path(out).exists():
            history_path(out).unlink()
        for tmp, final in staged:
            os.replace(tmp, final)
            published.append(final)
    except BaseException:
        for final in published:
            final.unlink(missing_ok=True)
        raise
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


def read_result(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path)
