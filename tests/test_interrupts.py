"""Signals held off a block: delivered once it ends, to the handler in place before it, and
held in the processes started inside it until they unblock them."""
from __future__ import annotations

import multiprocessing
import signal
from contextlib import nullcontext

import pytest

from archprof import interrupts


def test_a_signal_inside_the_block_is_raised_when_it_ends() -> None:
    ran = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.held(signal.SIGINT):
            signal.raise_signal(signal.SIGINT)
            ran.append("the rest of the block")
    assert ran == ["the rest of the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _mask(report: multiprocessing.SimpleQueue, unblock: bool) -> None:
    """A spawned worker's view: SIGINT blocked as it starts, and after `interrupts.unblock`."""
    blocked = signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    if unblock:
        interrupts.unblock(signal.SIGINT)
    report.put((blocked, signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])))


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="no signal mask (Windows)")
@pytest.mark.parametrize("inside", [True, False])
def test_a_process_spawned_inside_the_block_starts_with_the_signal_blocked(inside: bool) -> None:
    """Spawned, not forked (a fresh interpreter, as on macOS): the mask survives exec, where a
    handler set in the parent would not; the worker that unblocks it has it no more."""
    context = multiprocessing.get_context("spawn")
    report = context.SimpleQueue()
    workers = [context.Process(target=_mask, args=(report, unblock)) for unblock in (False, True)]
    with interrupts.held(signal.SIGINT) if inside else nullcontext():
        for worker in workers:
            worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    assert sorted(report.get() for _ in workers) == ([(True, False), (True, True)] if inside
                                                     else [(False, False), (False, False)])
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])    # ours again
