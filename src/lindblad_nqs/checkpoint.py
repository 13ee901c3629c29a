"""One checkpoint policy for every solver: what may be resumed, how it is stored, how it is refused.

A checkpoint belongs to a run through its fingerprint: the canonical JSON of the resolved spec without
the keys that do not change what has been computed so far (`volatile`: an iteration budget, a final
time, how many samples measure the final observables). A checkpoint with another fingerprint is
ignored (and the run says so); one that cannot be read is refused with one line naming the file, never
loaded in part. A path ending in .npz is a NumPy archive of plain arrays read with allow_pickle=False,
the JSON metadata travelling as one string array; one ending in .pt (the torch solvers) holds tensors
and plain containers read with torch's weights_only unpickler. Either way nothing in a state directory
can run code. Writes go to a temporary file that replaces the old checkpoint only when complete.
"""

from __future__ import annotations

import copy
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from .checks import RunError


class CheckpointError(RunError):
    """A checkpoint file that exists but cannot be read (reported in one line, exit 2, no output)."""


def fingerprint(spec: dict, volatile_method_keys=(), volatile_task_keys=()) -> str:
    d = copy.deepcopy(spec)
    for k in volatile_method_keys:
        d.get("method", {}).pop(k, None)
    for k in volatile_task_keys:
        d.get("task", {}).pop(k, None)
    for k in ("name", "notes", "observables"):
        d.pop(k, None)
    return json.dumps(d, sort_keys=True, default=str)


def file_digest(path) -> str:
    """sha256 of a file's bytes: a checkpoint of a run started from another run's file records which."""
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def read_torch(path: Path, map_location=None) -> dict:
    """A torch file read as tensors and plain containers only (weights_only: a crafted file cannot run
    code); one that does not read so, or holds no dict, is refused in one line naming it."""
    import pickle

    import torch

    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError, OSError, ValueError,
            AttributeError, TypeError, KeyError) as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f"{path} is corrupt or not a checkpoint of this program ({type(e).__name__}: "
                              f"{reason[:200]}); delete it to start afresh") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a checkpoint of this program (it holds a {type(data).__name__}); "
                              "delete it")
    return data


class Checkpointer:
    """save(arrays, meta) / load() -> (arrays, meta) or None, for the run with this fingerprint.

    .npz: arrays are NumPy arrays, meta is JSON. .pt: arrays are tensors, state dicts or plain
    containers of them, meta any plain container; map_location places the tensors on load."""

    def __init__(self, path: Path, fingerprint: str, map_location=None):
        self.path, self.fingerprint, self.map_location = Path(path), fingerprint, map_location

    def save(self, arrays: dict, meta: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.suffix == ".pt":
            import torch

            tmp = self.path.with_name(self.path.stem + ".tmp.pt")
            torch.save({"__fingerprint__": self.fingerprint, "__meta__": meta, **arrays}, tmp)
        else:
            tmp = self.path.with_name(self.path.stem + ".tmp.npz")
            np.savez(tmp, __fingerprint__=np.array(self.fingerprint), __meta__=np.array(json.dumps(meta)),
                     **{k: np.asarray(v) for k, v in arrays.items()})
        os.replace(tmp, self.path)

    def load(self):
        """(arrays, meta) of a checkpoint of this run; None when there is none or it is another run's."""
        if not self.path.is_file():
            return None
        if self.path.suffix == ".pt":
            data = read_torch(self.path, self.map_location)
            if data.get("__fingerprint__") != self.fingerprint:  # another run's, or another writer's
                return None
            meta = data.pop("__meta__", None)
            data.pop("__fingerprint__")
            return data, meta
        try:
            with np.load(self.path, allow_pickle=False) as d:
                data = {k: d[k] for k in d.files}
            if "__fingerprint__" not in data:  # an archive of another writer (an older version): not this run's
                return None
            fp = str(data.pop("__fingerprint__"))
            meta = json.loads(str(data.pop("__meta__")))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as e:
            raise CheckpointError(f"checkpoint {self.path} is corrupt or not a checkpoint "
                                  f"({type(e).__name__}); delete it to start afresh") from None
        if fp != self.fingerprint:
            return None
        return data, meta
