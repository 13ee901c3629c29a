"""One checkpoint policy for every solver: what may be resumed, how it is stored, how it is refused.

A checkpoint belongs to a run through its fingerprint: the canonical JSON of the resolved spec without
the keys that do not change what has been computed so far (`volatile`: an iteration budget, a final
time, how many samples measure the final observables). A checkpoint with another fingerprint is
ignored (and the run says so); one that cannot be read is refused with one line naming the file, never
loaded in part. Files are NumPy .npz archives of plain arrays read with allow_pickle=False (nothing in a
state directory can run code); the JSON metadata travels as one string array. Writes go to a temporary
file that replaces the old checkpoint only when complete.
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


class Checkpointer:
    def __init__(self, path: Path, fingerprint: str):
        self.path, self.fingerprint = Path(path), fingerprint

    def save(self, arrays: dict, meta: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.stem + ".tmp.npz")
        np.savez(tmp, __fingerprint__=np.array(self.fingerprint), __meta__=np.array(json.dumps(meta)),
                 **{k: np.asarray(v) for k, v in arrays.items()})
        os.replace(tmp, self.path)

    def load(self):
        """(arrays, meta) of a checkpoint of this run; None when there is none or it is another run's."""
        if not self.path.is_file():
            return None
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
