"""Settings for a process that runs the engine's decision loop: freed memory and BLAS threads.

A decision's numpy temporaries are often 0.1-1 MB: a first scoring pass of a GPU share over the
1,213 openb nodes makes several of 300 KB.  glibc serves blocks above its mmap threshold with
fresh mappings and gives freed memory at the top of the heap back to the system, so such a pass
faulted its pages in anew each time (about 300 minor faults, half of a 3.4 ms first pass).
`keep_freed_memory()` raises both thresholds, so freed blocks stay mapped and are reused; the
process keeps up to `TRIM` bytes of free heap.  The products a pass makes are small, and a BLAS
that splits them over threads only makes the decision wait for a thread it shares a core with
(4 ms of wall time against 1 ms of CPU, on one pinned core), so `one_blas_thread()` limits BLAS
to the calling thread.  Neither changes a result.  `for_decisions()` applies both once per
process; it is called at start-up by the schedulers' processes, the benchmarks and the FGD
experiment's workers.  Where the C library has no `mallopt` (not glibc) that part does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

from threadpoolctl import threadpool_info, threadpool_limits

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
"""glibc's `mallopt` parameter numbers (malloc.h)."""
MMAP = 32 * 2**20
"""Blocks below this come from the heap (glibc's largest allowed threshold on 64-bit)."""
TRIM = 256 * 2**20
"""Free heap kept before any is given back."""
_LIMITS: list = []
"""The BLAS limit in force (threadpoolctl lifts it when its object is collected)."""


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds; True if the C library took them."""
    name = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(name), "mallopt", None) if name else None
    if mallopt is None:
        return False
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP))


def one_blas_thread() -> int:
    """Limit every loaded BLAS to one thread; how many BLAS thread pools now run one thread."""
    import numpy  # noqa: F401  (loads the BLAS that numpy links, so that the limit finds it)

    _LIMITS.append(threadpool_limits(limits=1, user_api="blas"))
    return sum(1 for pool in threadpool_info() if pool["user_api"] == "blas" and pool["num_threads"] == 1)


@functools.cache
def for_decisions() -> dict[str, object]:
    """Both settings, once per process: what took, for benchmark reports."""
    return {"freed_memory_kept": keep_freed_memory(), "blas_pools_at_one_thread": one_blas_thread()}


__all__ = ["for_decisions", "keep_freed_memory", "one_blas_thread"]
