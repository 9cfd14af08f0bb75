"""One writer per output folder at a time: an advisory ``flock`` beside the folder.

Two runs of the same partition (the sensor can request one per tick while scenes arrive, or a
user re-materialises during a backfill) would otherwise interleave: one run's prune removes the
other's fresh files and each writes a manifest for a folder the other changed (issue 15, defect
13). The lock lives in a hidden file next to the folder, so pruning the folder never touches it,
and the kernel releases it when the holder dies (SIGKILL included): a crashed run never blocks the
next one. Dagster-free; ``dagster_defs.concurrency`` wraps the partitioned assets with it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path


def lock_path(folder: Path) -> Path:
    folder = Path(folder)
    return folder.parent / f".{folder.name}.lock"


@contextlib.contextmanager
def folder_lock(
    folder: str | Path, on_wait: Callable[[str], None] | None = None, poll: float = 0.5
) -> Iterator[float]:
    """Hold the folder's exclusive lock; yields the seconds spent waiting for another holder.

    The lock file records the holder (host, pid), so the wait message says whom it waits for.
    """
    folder = Path(folder)
    path = lock_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    t0 = time.monotonic()
    held = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another writer"
                on_wait(f"{folder} is being written by {holder}; waiting for it to finish")
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    time.sleep(poll)
        held = True
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.uname().nodename} pid {os.getpid()}".encode(), 0)
        yield time.monotonic() - t0
    finally:
        if held:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor releases the flock
