"""Allocator settings for a process that runs the engine's decision loop.

A decision's numpy temporaries are often 0.1-1 MB: a first scoring pass of a GPU share over the
1,213 openb nodes makes several of 300 KB.  glibc serves blocks above its mmap threshold with
fresh mappings and gives freed memory at the top of the heap back to the system, so such a pass
faults its pages in anew each time (about 300 minor faults, half of a 3.4 ms first pass).
`keep_freed_memory()` raises both thresholds, so freed blocks stay mapped and are reused in place;
the process keeps up to `TRIM` bytes of free heap.  It changes no result, only where memory comes
from.  Called at start-up by the schedulers' processes, the benchmarks and the FGD experiment's
workers; elsewhere (a C library without `mallopt`) it does nothing and says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
"""glibc's `mallopt` parameter numbers (malloc.h)."""
MMAP = 32 * 2**20
"""Blocks below this come from the heap (glibc's largest allowed threshold on 64-bit)."""
TRIM = 256 * 2**20
"""Free heap kept before any is given back."""


@functools.cache
def keep_freed_memory() -> bool:
    """Apply the settings once per process; True if the C library took them."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP))


__all__ = ["keep_freed_memory"]
