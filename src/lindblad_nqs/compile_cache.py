"""JAX's persistent compilation cache, shared by every JAX solver and the floors.

Short CPU runs spend most of their time compiling (a 3-site rbm_tdvp run: 35 s without the cache, 9 s
with it warm; a quick reh2021 point 14 s against 9 s), and the points of a sweep, the tests and the
DAG's jobs compile the same programs: the cache lets each process after the first read them back.
"""

from __future__ import annotations

import os


def enable_compilation_cache() -> None:
    """Use the cache at LINDBLAD_NQS_JAX_CACHE (default ~/.cache/lindblad_nqs/jax; 'off' disables it);
    a cache directory set already (by the caller or JAX's own config) is left as it is."""
    import jax

    path = os.environ.get("LINDBLAD_NQS_JAX_CACHE", os.path.expanduser("~/.cache/lindblad_nqs/jax"))
    if path == "off" or jax.config.jax_compilation_cache_dir:
        return
    try:
        os.makedirs(path, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.3)
    except OSError:
        pass
