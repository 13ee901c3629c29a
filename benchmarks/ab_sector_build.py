"""Build time, peak memory and a checksum of the exact symmetric-sector Liouvillian (exact.sector), for the
tree on PYTHONPATH; run it alternately for two trees:

    for i in 1 2; do for t in OLD_SRC NEW_SRC; do PYTHONPATH=$t python benchmarks/ab_sector_build.py; done; done
"""
import resource
import time

import numpy as np

from lindblad_nqs.model import Jump, Lattice, SpinSystem
from lindblad_nqs.exact.sector import SymmetricSector
import lindblad_nqs
res = {}
for name, lat in [("3x3", Lattice((3, 3), True)), ("chain-10", Lattice((10,), True))]:
    s = SpinSystem(lat, (0.9, 1.8, 1.0), (0.0, 0.0, 0.0), (Jump("sigma_minus", 1.0),))
    t0 = time.perf_counter(); sec = SymmetricSector.build(s, even_parity_only=True); t = time.perf_counter() - t0
    M = sec.M.tocsr(); M.sort_indices()
    print(lindblad_nqs.__file__, name, "dim", sec.dim, "build s %.2f" % t, "nnz", M.nnz, "checksum %.12e" % float(np.abs(M.data).sum()))
print("peak MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
