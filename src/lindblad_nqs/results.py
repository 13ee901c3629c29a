"""Result tables and their provenance, written atomically: a failed run leaves no output file."""

from __future__ import annotations

import json
import os
import platform
import tempfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import pandas as pd

COLUMNS = ["t", "observable", "value", "stderr"]
_PACKAGES = ("lindblad-nqs", "numpy", "scipy", "qutip", "jax", "jaxlib", "flax", "optax", "torch", "pandas")


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


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


def write_result(out: Path, rows, provenance: dict, history: pd.DataFrame | None = None) -> None:
    out = Path(out)
    df = pd.DataFrame(rows, columns=COLUMNS)
    with atomic_path(out.with_suffix(".json")) as js, atomic_path(out) as csv:
        if history is not None:
            with atomic_path(history_path(out)) as h:
                history.to_csv(h, index=False)
            provenance = dict(provenance, history_file=history_path(out).name)
        js.write_text(json.dumps(provenance, indent=2, default=str))
        df.to_csv(csv, index=False)


def read_result(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path)
