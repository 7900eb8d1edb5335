"""Ctrl-C and SIGTERM that are never lost.

Python raises KeyboardInterrupt (and our handlers raise ``Terminated``) in whatever code runs when
the signal arrives. When that is a garbage-collector callback (JAX registers one), the exception
is printed as "Exception ignored in ..." and swallowed, and a sweep would go on as if nothing had
happened. So the handlers also record the signal, and the job layer (``job.execute.finish``)
calls ``check()`` before each run (and ``cmd_run`` after the sweep): a swallowed interrupt stops
the sweep at the next run instead.
"""

from __future__ import annotations

import signal

_RECEIVED: list[int] = []


class Terminated(BaseException):
    """SIGTERM arrived (SLURM's preemption or time-limit notice, ``kill``, ``scancel``). A
    BaseException, like KeyboardInterrupt, so a run it interrupts is never recorded: runs record
    only ``Exception``s as failed rows."""


def _raise(signum: int) -> None:
    if signum == signal.SIGTERM:
        raise Terminated()
    raise KeyboardInterrupt()


def _on_signal(signum, frame):
    _RECEIVED.append(signum)
    _raise(signum)


def install() -> dict[int, object]:
    """Record-and-raise handlers for SIGINT and SIGTERM; returns the previous ones."""
    _RECEIVED.clear()
    return {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}


def restore(previous: dict[int, object]) -> None:
    for s, handler in previous.items():
        signal.signal(s, handler)


def received() -> int | None:
    """The first signal received since ``install`` (None if none)."""
    return _RECEIVED[0] if _RECEIVED else None


def check() -> None:
    """Raise the interrupt again if one arrived (and was perhaps swallowed) since ``install``."""
    if _RECEIVED:
        _raise(_RECEIVED[0])
