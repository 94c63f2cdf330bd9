"""Hand freed heap pages back to the OS after a large drop (the national bootstrap's peaks).

glibc keeps freed pages in its arenas, so a dropped table would still count in the peak of every later
phase. A full cyclic collection and ``malloc_trim`` cost seconds in a process that holds many objects
(a test worker, a service), so both run only after a drop worth it: ``GIVE_BACK_BYTES``.
"""

from __future__ import annotations

import ctypes
import gc

import pandas as pd

GIVE_BACK_BYTES = 64 * 2**20  # a default world's largest table is ~50 MB (shallow): never trimmed there

try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL("libc.so.6")  # glibc's malloc_trim (Linux)
except OSError:  # another platform: no trim
    _LIBC = None


def frame_bytes(frame: pd.DataFrame) -> int:
    """A frame's shallow size (object columns count their pointers): cheap, a lower bound."""
    return int(frame.memory_usage(index=True, deep=False).sum())


def give_back(freed_bytes: int) -> bool:
    """Collect cycles and trim the heap when ``GIVE_BACK_BYTES`` or more were just dropped (True if so)."""
    if freed_bytes < GIVE_BACK_BYTES:
        return False
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
    return True
