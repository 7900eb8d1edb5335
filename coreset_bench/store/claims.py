"""Claims: one process at a time per cell of a results directory.

A run's cell (dataset, model, sampler, budget, seed) is claimed while it runs by an exclusive
``flock`` on ``claims/<cell>.lock`` (see ``claim``). The kernel drops the lock when its holder
exits, ``kill -9`` included, so a claim never goes stale and needs no timeout; the file of a
killed holder is left behind, free, and reused (``results check --repair`` removes it).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import time
from pathlib import Path

from ..errors import StoreError

CLAIMS = "claims"
log = logging.getLogger(__name__)

_UNSUPPORTED = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)
_warned_unlocked: set[str] = set()


class Claim:
    """An exclusive hold on one cell of a results directory (see ``claim``)."""

    def __init__(self, path: Path, fd: int | None):
        self.path, self.fd = path, fd

    def release(self) -> None:
        """Unlink the claim file, then drop the lock (a waiter that locked the unlinked file
        notices and retries, see ``claim``)."""
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None


def claim_path(results_dir: str | os.PathLike, name: str) -> Path:
    return Path(results_dir) / CLAIMS / f"{name}.lock"


def claim(results_dir: str | os.PathLike, name: str, wait: bool = False) -> Claim | None:
    """Hold ``claims/<name>.lock`` exclusively: a Claim, or None if another live process holds
    it (``wait=True`` blocks until it is free instead). The lock is the kernel's ``flock``, which
    ends with its holder's process however it ends, so there is no stale claim to time out;
    across machines it works where the shared filesystem supports locks (NFSv4 and local disks
    do; Lustre needs its ``flock`` mount option). Where locks are not supported the claim is
    granted unlocked, with one warning: concurrent sweeps may then run a cell twice, and the
    atomic row writes still leave exactly one row per run_key."""
    path = claim_path(results_dir, name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(path.parent, exc) from exc
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(path, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError as exc:
            os.close(fd)
            if exc.errno not in _UNSUPPORTED:
                raise StoreError(path, exc) from exc
            if str(path.parent) not in _warned_unlocked:
                _warned_unlocked.add(str(path.parent))
                log.warning("file locks are not supported under %s (%s): concurrent sweeps on it "
                            "may run a cell twice (rows stay one per run_key)", path.parent,
                            exc.strerror)
            return Claim(path, None)
        try:   # the holder we waited for may have unlinked the file: lock the current one
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{socket.gethostname()} pid {os.getpid()} since "
                     f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode())
    except OSError:  # who holds it is only informative (a full disk must not stop the claim)
        pass
    return Claim(path, fd)


def claim_holder(path: Path) -> str | None:
    """Who holds the claim file ``path`` ('host pid N since T'), or None if nobody does (a file
    left by a killed holder)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.read(fd, 200).decode(errors="replace").strip() or "another process"
        except OSError:
            return None
        return None
    finally:
        os.close(fd)
