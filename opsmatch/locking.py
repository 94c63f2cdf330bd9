"""An exclusive, non-blocking inter-process lock on a file (``fcntl.flock``), with who holds it.

The kernel releases a ``flock`` when its holder exits, even on a crash or ``kill -9``: there is never a
stale lock to clean up, and the lock file itself is left in place (deleting it would let two processes
lock two different inodes). The holder writes its pid, host and start time into the file so that a
refused caller can say who is running. Local filesystems only: ``flock`` over NFS is not reliable (see
docs/operations.md for the scale path).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import IO, Any


class LockHeld(RuntimeError):
    """The lock is held by another process (``holder``: what it wrote, possibly empty)."""

    def __init__(self, path: Path, holder: dict[str, Any]) -> None:
        self.path = path
        self.holder = holder
        super().__init__(f"{path} is held by pid {holder.get('pid', 'unknown')}")

    @property
    def pid(self) -> int | None:
        pid = self.holder.get("pid")
        return int(pid) if isinstance(pid, int | str) and str(pid).isdigit() else None


class FileLock:
    """``with FileLock(path, purpose="retrain"):`` — raises :class:`LockHeld` at once if taken."""

    def __init__(self, path: Path, purpose: str = "") -> None:
        self.path = Path(path)
        self.purpose = purpose
        self._handle: IO[str] | None = None

    def acquire(self) -> FileLock:
        """Take the lock or raise :class:`LockHeld` (never waits)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise LockHeld(self.path, read_holder(self.path)) from None
        handle.seek(0)
        handle.truncate()
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "purpose": self.purpose,
            "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        handle.write(json.dumps(holder))
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        """Clear the holder record and unlock (idempotent)."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            handle.seek(0)
            handle.truncate()
            handle.flush()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    @property
    def held(self) -> bool:
        return self._handle is not None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_holder(path: Path, attempts: int = 5, pause: float = 0.05) -> dict[str, Any]:
    """What the holder wrote (it writes right after locking, so retry briefly on an empty file)."""
    for i in range(attempts):
        try:
            text = Path(path).read_text(encoding="utf-8").strip()
        except OSError:
            text = ""
        if text:
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            if isinstance(data, dict):
                return data
        if i + 1 < attempts:
            time.sleep(pause)
    return {}
