"""A Ctrl-C or SIGTERM that Python swallows (it arrived inside a garbage-collector callback or a
__del__, where exceptions are only printed) still stops the sweep: before the next run, and with
the interrupted exit code after the last one. Seen in CI: JAX's gc callback ate a Ctrl-C and the
sweep ran to the end with exit code 0."""

from __future__ import annotations

import os
import signal

import pytest

from coreset_bench.job import execute as job
from coreset_bench.job import interrupts
from coreset_bench.protocols import Job, Outcome


class _SignalInDel:
    def __init__(self, signum):
        self.signum = signum

    def __del__(self):   # an exception raised here is printed and swallowed by Python
        os.kill(os.getpid(), self.signum)


def _swallow(signum):
    obj = _SignalInDel(signum)
    del obj


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("signum,exc", [(signal.SIGINT, KeyboardInterrupt),
                                        (signal.SIGTERM, interrupts.Terminated)])
def test_a_swallowed_signal_is_raised_again_before_the_next_run(tmp_path, signum, exc):
    previous = interrupts.install()
    try:
        _swallow(signum)                      # no exception reaches us ...
        assert interrupts.received() == signum
        ran = []
        with pytest.raises(exc):              # ... but the next run does not start
            job.finish(Job({}, "classification", None, str(tmp_path)), None,
                          Outcome(None, lambda: ran.append(1)), {}, False)
        assert ran == [] and not (tmp_path / "rows").exists()
    finally:
        interrupts.restore(previous)
    assert signal.getsignal(signal.SIGINT) is previous[signal.SIGINT]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_install_forgets_the_previous_commands_signals():
    previous = interrupts.install()
    try:
        _swallow(signal.SIGINT)
        interrupts.restore(interrupts.install())   # a new command starts clean
        assert interrupts.received() is None
        interrupts.check()                          # nothing to raise
    finally:
        interrupts.restore(previous)
